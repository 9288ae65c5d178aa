"""Settings, read from the environment (prefix ``WANGGE_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_ROOT / "data"


def normalise_database_url(url: str) -> str:
    """Maps plain SQLite/PostgreSQL URLs onto the async drivers the app uses."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WANGGE_", env_file=".env", extra="ignore")

    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'wangge.db'}"
    host: str = "127.0.0.1"
    port: int = 8000
    # Optional internal tile server (e.g. "http://tiles.intranet/{z}/{x}/{y}.png"); without it the
    # map draws region polygons on a plain background.
    tile_url: str | None = None
    tile_crs: str = "gcj02"
    default_language: str = "zh"
    # Accounts (docs/decisions/0007-accounts-and-sessions.md). "test" is a cheap argon2 profile
    # for the test suite only; production keeps "default".
    password_profile: str = "default"
    bearer_hours: float = 8
    # A token's subject is reused for this long without re-reading session and posts; other
    # processes see a log-out or revocation within it (0 turns the cache off).
    auth_cache_seconds: float = 5
    # How often the point → grid index checks whether the grids changed (0: every lookup).
    grid_index_check_seconds: float = 5
    # Move everything alive after start-up out of the garbage collector's reach (gc.freeze):
    # a full collection then scans only what requests create, and stops pausing the server
    # for 120-140 ms (decision 0012). The test suite, which starts hundreds of apps in one
    # process, turns it off.
    gc_freeze: bool = True
    cookie_hours: float = 12
    # Failed log-ins per user name or client address within the window: slowed after
    # ``login_slow_after`` (429 + Retry-After), locked for ``login_lock_minutes`` after
    # ``login_lock_after``.
    login_window_minutes: float = 15
    login_slow_after: int = 5
    login_slow_seconds: int = 5
    login_lock_after: int = 10
    login_lock_minutes: float = 15
    # Event bus (docs/decisions/0009-event-stream-and-scheduler.md): inprocess | postgres |
    # redis; unset means in-process on SQLite and LISTEN/NOTIFY on PostgreSQL.
    bus: Literal["inprocess", "postgres", "redis"] | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    # SSE: heartbeat comment every N seconds; a subscriber this many events behind is closed
    # (it reconnects and replays); the token is re-checked every N seconds.
    stream_heartbeat_seconds: float = 15
    stream_queue_size: int = 1000
    stream_recheck_seconds: float = 60
    # Periodic jobs (one leader across processes); "off" for processes that must not lead.
    scheduler: bool = True
    # Case photos: stored under photo_dir (content-addressed), at most photo_max_bytes each.
    photo_dir: Path = PROJECT_ROOT / "var" / "photos"
    photo_max_bytes: int = 10 * 1024 * 1024
    # Case deadlines: the sweep runs every case_sweep_seconds; a step still overdue this many
    # hours after it was marked is escalated one level by the system (督办).
    case_sweep_seconds: float = 60
    case_escalation_grace_hours: float = 24
    # Directives: the sweep marks late acknowledgements and completions every
    # directive_sweep_seconds; an emergency directive still unacknowledged this many minutes
    # after delivery is escalated to the unit's superiors.
    directive_sweep_seconds: float = 60
    # PII field encryption (decision 0014): the master key, base64 of 32 random bytes, or a file
    # holding it (created with a new key on first use when neither exists: development only).
    pii_key: str | None = None
    pii_key_file: Path = PROJECT_ROOT / "var" / "pii.key"
    directive_emergency_minutes: float = 30

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalise_database_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
