"""The audit sealer: chains the records committed since its last run (every second)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.audit.chain import seal_all
from wangge.kit import scheduler

SEAL_SECONDS = 1.0


async def _seal(session: AsyncSession) -> None:
    await seal_all(session)


scheduler.register("audit_seal", SEAL_SECONDS, _seal, once=False)
