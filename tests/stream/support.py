"""Helpers for stream tests: a real uvicorn server in the test's loop, SSE parsing, accounts."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.auth.tokens import new_token, token_hash
from wangge.kit.db import utcnow
from wangge.models import Account, AuthSession, Person, Post, Region

CITY, NORTH, SOUTH = "4107", "410702", "410703"
NORTH_GRID, SOUTH_GRID = "410702001001001", "410703001001001"


async def add_regions(session: AsyncSession) -> None:
    """A city with two counties, one village and one grid each (enough for posts)."""
    rows = [(CITY, None, "city")]
    for county, grid in ((NORTH, NORTH_GRID), (SOUTH, SOUTH_GRID)):
        rows += [(county, CITY, "county"), (grid[:9], county, "township"),
                 (grid[:12], grid[:9], "village"), (grid, grid[:12], "grid")]
    session.add_all(Region(code=c, parent_code=p, level=lvl, name=c, synthetic=True)
                    for c, p, lvl in rows)
    await session.flush()


async def issue_token(session: AsyncSession, username: str,
                      posts: list[tuple[str, str]]) -> tuple[str, AuthSession]:
    """An account holding ``posts`` [(role, region)] and a live bearer token (direct inserts)."""
    person = Person(staff_no=f"S-{username}", name=username)
    session.add(person)
    await session.flush()
    session.add_all(Post(person_id=person.id, role=r, region_code=c) for r, c in posts)
    account = Account(username=username, person_id=person.id, password_hash="-",
                      is_active=True, failed_logins=0)
    session.add(account)
    await session.flush()
    token = new_token()
    auth = AuthSession(token_hash=token_hash(token), account_id=account.id, kind="bearer",
                       expires_at=utcnow() + timedelta(hours=1))
    session.add(auth)
    await session.flush()
    return token, auth


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """Runs ``app`` under uvicorn on a free port in this event loop; yields (base URL, server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                           timeout_graceful_shutdown=5))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@dataclass
class SSE:
    id: str | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.data)


class SSEStream:
    """Reads one open SSE response message by message (comments are kept apart)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, timeout: float = 5.0) -> SSE | None:
        """The next event; None when the server ended the stream."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> SSE | None:
        msg = SSE()
        has_field = False
        async for line in self.lines:
            if line == "":
                if has_field:
                    return msg
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            has_field = True
            if name == "id":
                msg.id = value
            elif name == "event":
                msg.event = value
            elif name == "data":
                msg.data = f"{msg.data}\n{value}" if msg.data else value
        return None

    async def events(self, n: int, timeout: float = 5.0) -> list[SSE]:
        out = []
        for _ in range(n):
            got = await self.next(timeout)
            assert got is not None, f"stream ended after {len(out)} of {n} events"
            out.append(got)
        return out
