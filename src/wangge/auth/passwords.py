"""Password hashing with argon2id; parameters and their measured cost: decision 0007."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# time_cost, memory_cost (KiB), parallelism. "default" costs ~100-200 ms of CPU per verification
# on the reference machine (bench/login.py); "test" exists only so the test suite stays fast.
PROFILES: dict[str, tuple[int, int, int]] = {
    "default": (2, 49_152, 1),
    "test": (1, 1_024, 1),
}


@lru_cache
def hasher(profile: str = "default") -> PasswordHasher:
    """The argon2id hasher of a named parameter profile."""
    if profile not in PROFILES:
        raise ValueError(f"unknown password profile {profile!r}")
    time_cost, memory_cost, parallelism = PROFILES[profile]
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def _profile() -> str:
    from wangge.config import get_settings

    return get_settings().password_profile


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the plain text is never stored)."""
    return hasher(_profile()).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; a malformed hash never matches."""
    try:
        return hasher(_profile()).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current profile's."""
    try:
        return hasher(_profile()).check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache
def dummy_hash() -> str:
    """A hash to verify against when the user name is unknown, so timing does not tell."""
    return hasher(_profile()).hash("wangge-no-such-account")
