"""PII field encryption: round trip, context binding, tampering, keyed hashes, key loading."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from wangge.kit.crypto import PiiCipher, cipher_for, load_master_key

KEY = bytes(range(32))


def test_round_trip_with_a_fresh_nonce_each_time() -> None:
    c = PiiCipher(KEY)
    a, b = c.encrypt("11010519491231002X", "id_number"), c.encrypt("11010519491231002X",
                                                                  "id_number")
    assert a != b and a.startswith("v1:") and "11010519491231002X" not in a
    assert c.decrypt(a, "id_number") == c.decrypt(b, "id_number") == "11010519491231002X"


def test_a_value_moved_to_another_field_or_tampered_with_does_not_decrypt() -> None:
    c = PiiCipher(KEY)
    token = c.encrypt("13800138000", "phone")
    with pytest.raises(InvalidTag):
        c.decrypt(token, "id_number")
    raw = bytearray(base64.b64decode(token[3:]))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        c.decrypt("v1:" + base64.b64encode(bytes(raw)).decode(), "phone")
    with pytest.raises(InvalidTag):
        PiiCipher(bytes(32)).decrypt(token, "phone")


def test_keyed_hashes_are_stable_per_key_and_kind() -> None:
    c = PiiCipher(KEY)
    h = c.keyed_hash("id_number", "11010519491231002X")
    assert h == PiiCipher(KEY).keyed_hash("id_number", "11010519491231002X")
    assert h != c.keyed_hash("phone", "11010519491231002X")
    assert h != PiiCipher(bytes(32)).keyed_hash("id_number", "11010519491231002X")
    assert len(h) == 64


def test_the_key_comes_from_the_setting_or_a_file_created_once(tmp_path: Path) -> None:
    assert load_master_key(base64.b64encode(KEY).decode(), tmp_path / "x") == KEY
    with pytest.raises(ValueError, match="32 bytes"):
        load_master_key(base64.b64encode(b"short").decode(), tmp_path / "x")
    path = tmp_path / "var" / "pii.key"
    first = load_master_key(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 32
    assert load_master_key(None, path) == first
    assert cipher_for(None, path) is cipher_for(None, path)
