"""Benchmark: the CPU cost of one log-in with the default argon2id parameters.

Ours: ``wangge.auth.passwords`` (argon2id, the "default" profile of decision 0007), timed for
hashing and for verification, and a whole ``POST /api/v1/auth/token`` against a temporary SQLite
database (throttle look-ups, verification, session row, audit record). Peer: what a user would
otherwise pick from the standard library — PBKDF2-HMAC-SHA256 at OWASP's 600,000 iterations.
Both check the same password; the target is 50-250 ms of CPU per verification.

    python bench/login.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The default profile is what is measured, whatever the caller's environment says.
os.environ["WANGGE_PASSWORD_PROFILE"] = "default"

from wangge.auth.passwords import PROFILES, hash_password, verify_password
from wangge.config import Settings, get_settings

PBKDF2_ITERATIONS = 600_000
PASSWORD = "correct horse battery staple"


def cpu_ms(work: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median CPU (process) and wall milliseconds of ``work`` over ``rounds`` runs."""
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        work()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def api_login_ms(rounds: int) -> tuple[float, float]:
    """CPU and wall ms of a whole ``POST /api/v1/auth/token`` (one warm-up log-in first)."""
    from fastapi.testclient import TestClient

    from wangge.app import create_app
    from wangge.authz.scope import Subject
    from wangge.kit import migrate
    from wangge.kit.cli import run_sync
    from wangge.kit.db import create_engine, create_sessionmaker

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)

        async def make() -> None:
            from wangge.auth.service import auth_service

            engine = create_engine(url)
            async with create_sessionmaker(engine)() as session:
                await auth_service.create_account(session, Subject.everything(), "bench",
                                                  PASSWORD)
                await session.commit()
            await engine.dispose()

        run_sync(make)
        with TestClient(create_app(Settings(database_url=url))) as client:
            def login() -> None:
                res = client.post("/api/v1/auth/token",
                                  data={"username": "bench", "password": PASSWORD})
                assert res.status_code == 200, res.text

            login()
            return cpu_ms(login, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 15)
    get_settings.cache_clear()
    time_cost, memory_cost, parallelism = PROFILES["default"]

    stored = hash_password(PASSWORD)
    hash_cpu, hash_wall = cpu_ms(lambda: hash_password(PASSWORD), rounds)
    verify_cpu, verify_wall = cpu_ms(lambda: verify_password(stored, PASSWORD), rounds)
    agree = verify_password(stored, PASSWORD) and not verify_password(stored, PASSWORD + "x")

    salt = secrets.token_bytes(16)
    peer_stored = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, PBKDF2_ITERATIONS)
    peer_cpu, peer_wall = cpu_ms(lambda: secrets.compare_digest(
        hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, PBKDF2_ITERATIONS), peer_stored),
        rounds)
    api_cpu, api_wall = api_login_ms(rounds)

    rows = [
        ("argon2id hash", hash_cpu, hash_wall),
        ("argon2id verify", verify_cpu, verify_wall),
        ("POST /api/v1/auth/token (ours, whole request)", api_cpu, api_wall),
        (f"peer: PBKDF2-SHA256 x{PBKDF2_ITERATIONS:,} verify", peer_cpu, peer_wall),
    ]
    print(f"argon2id time_cost={time_cost} memory_cost={memory_cost} KiB "
          f"parallelism={parallelism}; median of {rounds} rounds", file=sys.stderr)
    print(f"{'':52} {'CPU ms':>8} {'wall ms':>8}")
    for label, cpu, wall in rows:
        print(f"{label:52} {cpu:8.1f} {wall:8.1f}")
    ratio = verify_cpu / peer_cpu if peer_cpu else None
    print(f"argon2id verify / PBKDF2 verify (CPU): {ratio:.2f}; log-ins per CPU core per s: "
          f"{1000 / api_cpu:.1f}")
    print(json.dumps({
        "bench": "login", "time_cost": time_cost, "memory_cost_kib": memory_cost,
        "parallelism": parallelism, "rounds": rounds,
        "hash_ms": round(hash_cpu, 1), "verify_ms": round(verify_cpu, 1),
        "verify_wall_ms": round(verify_wall, 1), "api_login_ms": round(api_cpu, 1),
        "peer": f"pbkdf2_sha256_{PBKDF2_ITERATIONS}", "peer_verify_ms": round(peer_cpu, 1),
        "ratio": round(ratio, 2) if ratio else None,
        "in_target": 50 <= verify_cpu <= 250, "agree": agree,
    }))


if __name__ == "__main__":
    main()
