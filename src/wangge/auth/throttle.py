"""Log-in throttling per user name and per client address, from the ``login_attempts`` table.

After ``login_slow_after`` failures inside the window, one attempt is allowed per
``login_slow_seconds``; after ``login_lock_after`` failures the name (or address) is locked for
``login_lock_minutes``. Counting by name, not by account, means a name that does not exist is
throttled exactly like one that does, so the answer never tells which names exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.auth.repository import AuthRepository
from wangge.config import Settings
from wangge.kit.errors import TooManyRequests
from wangge.models import LoginAttempt

WAIT_MESSAGE = "too many failed log-ins: wait and try again later"


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may proceed now; otherwise how long to wait and whether it is a lock."""

    retry_after: int = 0
    locked_until: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.retry_after <= 0


def _verdict(failures: int, latest: datetime | None, now: datetime, s: Settings) -> Verdict:
    if latest is None or failures < s.login_slow_after:
        return Verdict()
    if failures >= s.login_lock_after:
        until = latest + timedelta(minutes=s.login_lock_minutes)
    else:
        until = latest + timedelta(seconds=s.login_slow_seconds)
    wait = (until - now).total_seconds()
    if wait <= 0:
        return Verdict()
    locked = until if failures >= s.login_lock_after else None
    return Verdict(retry_after=max(1, math.ceil(wait)), locked_until=locked)


async def check(session: AsyncSession, settings: Settings, username: str, client_addr: str,
                now: datetime) -> Verdict:
    """The stricter verdict of the user name's and the client address's recent failures."""
    repo = AuthRepository(session)
    window_start = now - timedelta(minutes=max(settings.login_window_minutes,
                                               settings.login_lock_minutes))
    # A successful log-in clears the name's count; the address keeps counting (spraying many
    # names from one address must not be reset by one good password).
    since_user = await repo.last_success(username, window_start) or window_start
    by_user = _verdict(*await repo.failures_since(username=username, since=since_user), now,
                       settings)
    by_addr = _verdict(*await repo.failures_since(client_addr=client_addr, since=window_start),
                       now, settings)
    return max(by_user, by_addr, key=lambda v: v.retry_after)


def locked(until: datetime, now: datetime) -> Verdict:
    """The verdict for an account locked until ``until``."""
    return Verdict(retry_after=max(1, math.ceil((until - now).total_seconds())),
                   locked_until=until)


def refuse(verdict: Verdict) -> TooManyRequests:
    """The 429 for a throttled attempt: it says only to wait."""
    return TooManyRequests(WAIT_MESSAGE, retry_after=verdict.retry_after)


def attempt(username: str, client_addr: str, success: bool, now: datetime) -> LoginAttempt:
    """A row recording one attempt (never the password)."""
    return LoginAttempt(username=username[:64], client_addr=client_addr[:64], success=success,
                        at=now)
