"""Field encryption for PII (resident ID numbers, phones): AES-256-GCM for the stored value and
HMAC-SHA-256 keyed hashes for exact look-ups, both from one master key (decision 0014).

The master key is 32 random bytes, given base64-encoded as ``WANGGE_PII_KEY`` (production: from
the secret store), or read from ``WANGGE_PII_KEY_FILE`` (default ``var/pii.key``), which a
development machine creates on first use. Two sub-keys are derived with HKDF, one to encrypt
and one to hash, so a leaked hash key reveals no plaintext. A stored value is
``v1:<base64(nonce ‖ ciphertext ‖ tag)>``; the version leaves room for key rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"wangge-pii-" + purpose).derive(master)


class PiiCipher:
    """Encrypts, decrypts and hashes PII fields with keys derived from one master key."""

    def __init__(self, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise ValueError(f"the PII key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(_derive(master, b"encrypt"))
        self._hash_key = _derive(master, b"hash")

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """``context`` (e.g. "id_number") is bound to the ciphertext: a value copied into
        another field does not decrypt there."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str = "") -> str:
        version, _, body = token.partition(":")
        if version != VERSION:
            raise ValueError(f"unknown PII cipher version {version!r}")
        raw = base64.b64decode(body)
        return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                  context.encode()).decode()

    def keyed_hash(self, kind: str, value: str) -> str:
        """A stable hex digest of a normalised value, for exact look-ups and duplicate checks
        (``kind`` keeps an ID number and a phone with the same digits apart)."""
        return hmac.new(self._hash_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def load_master_key(key: str | None, key_file: Path) -> bytes:
    """The master key from ``key`` (base64), else from ``key_file``, creating that file with a
    new random key (mode 0600) when it does not exist yet."""
    if key:
        raw = base64.b64decode(key)
        if len(raw) != KEY_BYTES:
            raise ValueError(f"WANGGE_PII_KEY must be {KEY_BYTES} bytes, base64-encoded")
        return raw
    if key_file.exists():
        return load_master_key(key_file.read_text().strip(), key_file)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    encoded = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(encoded + "\n")
    log.warning("created a new PII key in %s: keep it safe, without it the stored ID numbers "
                "and phones cannot be read", key_file)
    return base64.b64decode(encoded)


_ciphers: dict[bytes, PiiCipher] = {}


def cipher_for(key: str | None, key_file: Path) -> PiiCipher:
    """The process's cipher for these settings (built once per key)."""
    master = load_master_key(key, key_file)
    found = _ciphers.get(master)
    if found is None:
        found = _ciphers[master] = PiiCipher(master)
    return found
