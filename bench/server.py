"""Shared by the benchmarks that measure the app over HTTP: one uvicorn worker in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(env: dict[str, str], *uvicorn_args: str) -> tuple[subprocess.Popen[bytes], str]:
    """Starts ``wangge.app:create_app`` under uvicorn with ``env`` added to this process's
    environment; returns the process and its base URL once ``/healthz`` answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "wangge.app:create_app", "--port",
         str(port), "--log-level", "warning", *uvicorn_args],
        cwd=ROOT, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def cpu_seconds(*pids: int) -> float:
    """CPU time (user + system) used so far by the processes ``pids`` (Linux ``/proc``);
    a process that has exited counts nothing."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (postmaster and backends)."""
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


async def insert_bench_accounts(conn: Any, prefix: str, posts: Sequence[tuple[str, str]],
                                hours: float = 4) -> list[str]:
    """One synthetic person, post, account and bearer session per ``(role, region)`` of
    ``posts``, inserted in bulk on ``conn`` (user names ``<prefix><i>``); returns the bearer
    tokens in the same order."""
    from datetime import timedelta

    from sqlalchemy import insert, select

    from wangge.auth.tokens import new_token, token_hash
    from wangge.kit.db import utcnow
    from wangge.models import Account, AuthSession, Person, Post

    now = utcnow()
    staff = [f"{prefix.upper()}-{i}" for i in range(len(posts))]
    await conn.execute(insert(Person), [
        {"staff_no": s, "name": f"{prefix}{i}", "synthetic": True, "created_at": now}
        for i, s in enumerate(staff)])
    people = dict((await conn.execute(
        select(Person.staff_no, Person.id).where(Person.staff_no.in_(staff)))).all())
    await conn.execute(insert(Post), [
        {"person_id": people[staff[i]], "role": role, "region_code": code, "synthetic": True,
         "created_at": now} for i, (role, code) in enumerate(posts)])
    names = [f"{prefix}{i}" for i in range(len(posts))]
    await conn.execute(insert(Account), [
        {"username": names[i], "person_id": people[staff[i]], "password_hash": "-",
         "is_active": True, "failed_logins": 0, "created_at": now} for i in range(len(posts))])
    accounts = dict((await conn.execute(
        select(Account.username, Account.id).where(Account.username.in_(names)))).all())
    tokens = [new_token() for _ in posts]
    await conn.execute(insert(AuthSession), [
        {"token_hash": token_hash(tokens[i]), "account_id": accounts[names[i]],
         "kind": "bearer", "created_at": now, "expires_at": now + timedelta(hours=hours)}
        for i in range(len(posts))])
    return tokens
