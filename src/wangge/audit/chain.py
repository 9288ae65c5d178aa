"""The hash chain: how a record's hash is computed, sealed, and verified.

Actions append records unsealed (no lock, no read: concurrent writers never wait on each
other). The sealer — the scheduler's ``audit_seal`` job every second, and ``wangge audit
verify`` before it verifies — takes the records committed since the last run in id order, gives
each the next chain position ``seq`` and chains its hash onto the previous one. See
docs/decisions/0008-audit-chain.md for what is hashed and what verification proves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from wangge.models import AuditRecord

GENESIS = "0" * 64
# Serialises sealers on PostgreSQL so two never chain onto the same record.
_PG_LOCK_KEY = 7_411_001
SEAL_BATCH = 10_000
# The content fields, in hashing order (prev_hash comes first, hash itself is not hashed).
HASHED_FIELDS = ("id", "at", "actor_account_id", "actor", "post", "action", "target_type",
                 "target_id", "region_code", "changes", "client_addr")


def canonical_changes(changes: Mapping[str, tuple[Any, Any]] | None) -> str:
    """``{"field": [before, after]}`` as canonical JSON (sorted keys, no spaces)."""
    body = {k: [v[0], v[1]] for k, v in (changes or {}).items()}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)


def _stamp(at: datetime) -> str:
    # Microsecond precision: both databases keep it, so a re-read record hashes the same.
    if at.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_hash(prev_hash: str, values: Mapping[str, Any] | RowMapping) -> str:
    """SHA-256 over the previous hash and the content fields as one canonical JSON array.

    JSON keeps ``null`` apart from ``""`` and ``1`` apart from ``"1"``, and needs no separator
    that a field could itself contain.
    """
    content: list[Any] = [prev_hash]
    for name in HASHED_FIELDS:
        value = values[name]
        content.append(_stamp(value) if name == "at" else value)
    payload = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record_hash(prev_hash: str, r: AuditRecord) -> str:
    """The hash ``r`` must carry when chained after ``prev_hash``."""
    return content_hash(prev_hash, {name: getattr(r, name) for name in HASHED_FIELDS})


async def _lock_chain(session: AsyncSession) -> None:
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        # Held until commit/rollback: the next writer reads the head only after we are durable.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # A write that touches no row: it opens the transaction and takes SQLite's single write
        # lock *before* the head is read, so no other writer can append in between.
        await conn.execute(text("DELETE FROM audit_records WHERE 0"))


def append(session: AsyncSession, record: AuditRecord) -> AuditRecord:
    """Adds ``record`` unsealed to the session (the caller flushes; the sealer chains it)."""
    session.add(record)
    return record


async def seal(session: AsyncSession, batch: int = SEAL_BATCH) -> int:
    """Chains up to ``batch`` committed unsealed records, in id order; returns how many."""
    await _lock_chain(session)
    head = (await session.execute(
        select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.seq.is_not(None))
        .order_by(AuditRecord.seq.desc()).limit(1))).first()
    seq, prev = (int(head[0] or 0), str(head[1])) if head else (0, GENESIS)
    table = AuditRecord.__table__
    rows = (await session.execute(
        select(table).where(table.c.seq.is_(None)).order_by(table.c.id).limit(batch))).all()
    if not rows:
        return 0
    updates = []
    for row in rows:
        seq += 1
        digest = content_hash(prev, row._mapping)
        updates.append({"rid": row.id, "seq": seq, "prev": prev, "digest": digest})
        prev = digest
    await session.execute(
        text("UPDATE audit_records SET seq = :seq, prev_hash = :prev, hash = :digest "
             "WHERE id = :rid AND seq IS NULL"), updates)
    return len(updates)


async def seal_all(session: AsyncSession) -> int:
    """Seals every committed record (in batches, one transaction)."""
    total = 0
    while n := await seal(session):
        total += n
    return total


@dataclass(frozen=True)
class BrokenLink:
    record_id: int
    reason: str


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain: records checked, the first broken link, the head.

    Records are numbered by their chain position ``seq``; ``pending`` counts records committed
    but not sealed yet (the sealer takes them within a second).
    """

    checked: int
    broken: BrokenLink | None
    head_id: int  # the head's chain position; 0 for an empty chain
    head_hash: str  # GENESIS for an empty chain
    pending: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None


async def _rows(conn: AsyncConnection, batch: int) -> AsyncIterator[RowMapping]:
    table = AuditRecord.__table__
    after = 0
    while True:
        rows = (await conn.execute(
            select(table).where(table.c.seq > after).order_by(table.c.seq).limit(batch)
        )).all()
        if not rows:
            return
        for row in rows:
            yield row._mapping
        after = rows[-1].seq


async def verify(
    conn: AsyncConnection, *, anchors: Sequence[tuple[int, str]] = (),
    progress: Callable[[int], None] | None = None, batch: int = 5000,
) -> Verification:
    """Recomputes the chain from the first record; stops at the first broken link.

    ``anchors`` are ``(id, hash)`` pairs exported earlier (``wangge audit verify`` prints the
    head): each must still be in the chain, which catches a chain rewritten from some point on
    or cut short — something the links alone cannot show.
    """
    prev, expected_id, n = GENESIS, 1, 0
    pending = dict(anchors)
    async for rec in _rows(conn, batch):
        n += 1
        if progress and n % 1000 == 0:
            progress(1000)
        rid = rec["seq"]
        if rid != expected_id:
            gap = f"{expected_id}" if rid == expected_id + 1 else f"{expected_id}-{rid - 1}"
            return Verification(n, BrokenLink(
                expected_id, f"record {gap} missing: the chain jumps from {expected_id - 1} "
                             f"to {rid}"), expected_id - 1, prev)
        if rec["prev_hash"] != prev:
            return Verification(n, BrokenLink(
                rid, f"prev_hash does not match the hash of record {rid - 1}: record {rid - 1} "
                     f"was rewritten (with a recomputed hash) or this record's link was "
                     f"changed"), rid - 1, prev)
        if content_hash(prev, rec) != rec["hash"]:
            return Verification(n, BrokenLink(
                rid, "content does not match its hash: a field was changed"), rid - 1, prev)
        expected = pending.pop(rid, None)
        if expected is not None and expected != rec["hash"]:
            return Verification(n, BrokenLink(
                rid, f"hash differs from the exported anchor {expected[:12]}…: the chain was "
                     f"rewritten from this record or earlier"), rid - 1, prev)
        prev, expected_id = rec["hash"], expected_id + 1
    if progress and n % 1000:
        progress(n % 1000)
    if pending:
        rid = min(pending)
        return Verification(n, BrokenLink(
            rid, f"exported anchor record {rid} is gone: the chain ends at {expected_id - 1}"),
            expected_id - 1, prev)
    return Verification(n, None, expected_id - 1, prev, await count_pending(conn))


async def count_pending(conn: AsyncConnection) -> int:
    """How many records wait for the sealer."""
    return int(await conn.scalar(select(func.count()).select_from(AuditRecord)
                                 .where(AuditRecord.seq.is_(None))) or 0)


async def count(conn: AsyncConnection) -> int:
    """How many records there are."""
    return int(await conn.scalar(select(func.count()).select_from(AuditRecord)) or 0)
