"""Shared test factories: accounts (through ``auth_service``, as the product creates them) and
logged-in clients."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.auth.service import auth_service
from wangge.authz.scope import Subject
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.models import Account

PASSWORD = "test-pass-123"
# The city-level test user of the ``xinxiang`` DB (see conftest ``city_token``).
CITY_USER = "test-city"
CITY_POSTS = ("admin@4107", "commander@4107")


async def make_account(
    session: AsyncSession, username: str, password: str = PASSWORD,
    posts: Sequence[str] = (), actor: Subject | None = None, **kw: Any,
) -> Account:
    """Creates an account inside ``session`` (not committed), as the system unless ``actor``."""
    return await auth_service.create_account(
        session, actor or Subject.everything(), username, password, list(posts), **kw)


def create_account(url: str, username: str, password: str = PASSWORD,
                   posts: Sequence[str] = (), **kw: Any) -> int:
    """Creates and commits an account in the database at ``url``; returns its id."""

    async def work() -> int:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                account = await make_account(session, username, password, posts, **kw)
                await session.commit()
                return account.id
        finally:
            await engine.dispose()

    return run_sync(work)


def ensure_account(url: str, username: str, password: str = PASSWORD,
                   posts: Sequence[str] = (), **kw: Any) -> None:
    """Like ``create_account`` but a no-op when the user name exists (session-wide fixtures)."""
    from wangge.auth.repository import AuthRepository

    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                if await AuthRepository(session).account_by_username(username) is None:
                    await make_account(session, username, password, posts, **kw)
                    await session.commit()
        finally:
            await engine.dispose()

    run_sync(work)


def bearer_token(client: Any, username: str, password: str = PASSWORD) -> str:
    """Logs in through ``POST /api/v1/auth/token``; returns the access token."""
    res = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert res.status_code == 200, res.text
    return str(res.json()["access_token"])


def authorize(client: Any, token: str) -> Any:
    """Makes every later request of ``client`` carry the bearer token."""
    client.headers["Authorization"] = f"Bearer {token}"
    return client


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form in a page."""
    match = CSRF_INPUT.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


def page_login(client: Any, username: str, password: str = PASSWORD, next_url: str = "/") -> Any:
    """Logs in through the /login form (cookie session); returns the POST response."""
    form = client.get("/login", params={"next": next_url})
    assert form.status_code == 200
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(form.text), "next": next_url},
                       follow_redirects=False)


def png_bytes(width: int = 1, height: int = 1, padding: int = 0) -> bytes:
    """A valid RGB PNG built by hand (no imaging library); ``padding`` bytes go into an
    ancillary ``tEXt`` chunk to make the file as large as a test needs."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + bytes((200, 30, 30)) * width for _ in range(height))
    text = b"Comment\x00" + b"x" * padding if padding else b""
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + (chunk(b"tEXt", text) if text else b"")
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg_bytes() -> bytes:
    """A valid 1x1 grey baseline JPEG built by hand: one 8x8 block whose DC difference and AC
    run are both coded with one-symbol Huffman tables."""
    quant = b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    frame = b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00"
    one_symbol = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1 for symbol 0
    huffman = b"\xff\xc4\x00\x14\x00" + one_symbol + b"\xff\xc4\x00\x14\x10" + one_symbol
    scan = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x3f"  # DC 0, EOB, 1-bit padding
    return b"\xff\xd8" + quant + frame + huffman + scan + b"\xff\xd9"
