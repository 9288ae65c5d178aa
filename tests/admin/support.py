"""Accounts for API tests: created by the system (as the CLI would) and logged in."""

from __future__ import annotations

from dataclasses import dataclass

from wangge.auth.service import auth_service
from wangge.authz.scope import Subject
from wangge.kit.cli import run_sync
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.models import Organisation, OrganisationCoverage

PASSWORD = "correct-horse-1"


@dataclass(frozen=True)
class User:
    account_id: int
    username: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_users(url: str, specs: dict[str, list[str]]) -> dict[str, User]:
    """Creates one account per ``username: [ROLE@CODE, ...]`` and logs each in."""

    async def go() -> dict[str, User]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                out: dict[str, User] = {}
                for username, posts in specs.items():
                    account = await auth_service.create_account(
                        session, Subject.everything(), username, PASSWORD, posts=posts,
                        staff_no=f"T-{username}", person_name=username)
                    token, _ = await auth_service.login(session, username, PASSWORD,
                                                        "127.0.0.1")
                    out[username] = User(account.id, username, token)
                await session.commit()
                return out
        finally:
            await engine.dispose()

    return run_sync(go)


def make_station(url: str, code: str, home: str, covers: list[str]) -> None:
    """A police station at ``home`` covering the given townships."""

    async def go() -> None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                org = Organisation(code=code, kind="police_station", name=f"{code} 派出所",
                                   region_code=home)
                session.add(org)
                await session.flush()
                session.add_all(OrganisationCoverage(organisation_id=org.id, region_code=c)
                                for c in covers)
                await session.commit()
        finally:
            await engine.dispose()

    run_sync(go)
