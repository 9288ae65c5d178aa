"""auth_service actions: account creation (and its checks), delegated grants, admin revoke,
demo log-ins."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.factories import PASSWORD, authorize, bearer_token, make_account

from wangge.app import create_app
from wangge.auth.service import auth_service
from wangge.auth.subjects import subject_for
from wangge.authz.scope import Subject
from wangge.config import Settings
from wangge.demo import DEMO_GRID, DEMO_PASSWORD, prepare_accounts
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.kit.errors import Forbidden, InvalidInput, NotFound
from wangge.models import Account, AuditRecord, Organisation, Person, Post

pytestmark = pytest.mark.anyio


@pytest.fixture
async def session(city_with_grids: str):  # type: ignore[no-untyped-def]
    engine = create_engine(city_with_grids)
    async with create_sessionmaker(engine)() as s:
        yield s
    await engine.dispose()


async def _subject(session: AsyncSession, username: str, posts: list[str]) -> Subject:
    account = await make_account(session, username, posts=posts)
    return await subject_for(session, account, "10.9.9.9")


class TestCreateAccount:
    async def test_creates_person_posts_and_an_audit_record(self, session: AsyncSession) -> None:
        account = await make_account(session, "qian", posts=["commander@410702"],
                                     person_name="钱")
        person = await session.get(Person, account.person_id)
        assert person is not None and (person.name, person.staff_no) == ("钱", "U-qian")
        posts = (await session.execute(select(Post.role, Post.region_code)
                                       .where(Post.person_id == person.id))).all()
        assert posts == [("commander", "410702")]
        rec = (await session.execute(select(AuditRecord).where(
            AuditRecord.action == "account.create"))).scalar_one()
        assert rec.target_id == str(account.id) and rec.region_code == "410702"
        assert "commander@410702" in rec.changes and PASSWORD not in rec.changes

    async def test_links_an_existing_staff_person_by_staff_no(self, session: AsyncSession
                                                              ) -> None:
        person = Person(staff_no="S-1", name="老王")
        session.add(person)
        await session.flush()
        session.add(Post(person_id=person.id, role="grid_member", region_code="410702001"))
        await session.flush()
        account = await make_account(session, "laowang", staff_no="S-1")
        assert account.person_id == person.id
        subject = await subject_for(session, account)
        assert subject.prefixes == ("410702001",) and str(subject.posts[0]) == \
            "grid_member@410702001"

    async def test_an_organisation_post(self, session: AsyncSession) -> None:
        session.add(Organisation(code="PS410702001", kind="police_station", name="派出所",
                                 region_code="410702001"))
        await session.flush()
        account = await make_account(session, "police", posts=["department_officer@PS410702001"])
        subject = await subject_for(session, account)
        assert [str(p) for p in subject.posts] == ["department_officer@PS410702001"]
        assert subject.prefixes == ("410702001",)

    @pytest.mark.parametrize("username, password, field", [
        ("", PASSWORD, "username"), ("a b", PASSWORD, "username"), ("x" * 65, PASSWORD,
                                                                    "username"),
        ("fine", "short", "password"),
    ])
    async def test_bad_input_names_the_field(self, session: AsyncSession, username: str,
                                             password: str, field: str) -> None:
        with pytest.raises(InvalidInput) as err:
            await make_account(session, username, password)
        assert err.value.detail["field"] == field


class TestDelegatedGrant:
    async def test_an_admin_grants_only_inside_the_subtree_and_held_roles(
        self, session: AsyncSession
    ) -> None:
        admin = await _subject(session, "county-admin", ["admin@410702", "commander@410702"])
        ok = await make_account(session, "t1", posts=["commander@410702001"], actor=admin)
        assert ok.id
        with pytest.raises(Forbidden, match="outside your regions"):
            await make_account(session, "t2", posts=["commander@410703"], actor=admin)
        with pytest.raises(Forbidden, match="only roles you hold"):
            await make_account(session, "t3", posts=["grid_member@410702001"], actor=admin)

    async def test_without_admin_users_it_is_forbidden(self, session: AsyncSession) -> None:
        commander = await _subject(session, "cmd", ["commander@410702"])
        with pytest.raises(Forbidden):
            await make_account(session, "t4", posts=["commander@410702001"], actor=commander)


class TestAdminRevoke:
    async def test_admin_revokes_sessions_of_an_account_in_scope(self, session: AsyncSession
                                                                 ) -> None:
        admin = await _subject(session, "adm", ["admin@410702"])
        await make_account(session, "worker", posts=["grid_member@410702001"])
        await make_account(session, "elsewhere", posts=["grid_member@410703001"])
        for _ in range(2):
            await auth_service.login(session, "worker", PASSWORD, "10.0.0.1")
        assert await auth_service.revoke_sessions(session, admin, "worker") == 2
        # Outside the admin's subtree, the account does not exist for them.
        with pytest.raises(NotFound):
            await auth_service.revoke_sessions(session, admin, "elsewhere")
        with pytest.raises(NotFound):
            await auth_service.revoke_account(session, admin, "elsewhere")
        actions = (await session.execute(select(AuditRecord.action, AuditRecord.actor)
                                         .order_by(AuditRecord.id))).all()
        assert ("auth.sessions_revoke", "adm") in actions


class TestDemoLogins:
    def test_every_level_and_the_grid_team_can_log_in(self, xinxiang: str) -> None:
        with TestClient(create_app(Settings(database_url=xinxiang))) as client:
            levels = {}
            for username in ("admin", "county", "township", "village", "grid-leader",
                             "grid-deputy", "grid-member", "grid-support"):
                authorize(client, bearer_token(client, username, DEMO_PASSWORD))
                me = client.get("/api/v1/me").json()
                levels[username] = me["scope"]
                if username.startswith("grid-"):
                    assert DEMO_GRID in [p["region_code"] for p in me["posts"]]
            assert levels["admin"] == ["4107"] and levels["county"] == ["410702"]
            assert levels["township"] == ["410702002"]
            assert levels["village"] == ["410702002022"]
            assert DEMO_GRID in levels["grid-member"]

    async def test_preparing_twice_adds_nothing(self, xinxiang: str) -> None:
        engine = create_engine(xinxiang)
        try:
            first = await prepare_accounts(engine)
            async with engine.connect() as conn:
                before = (await conn.execute(select(func.count()).select_from(Account))
                          ).scalar_one()
            second = await prepare_accounts(engine)
            async with engine.connect() as conn:
                after = (await conn.execute(select(func.count()).select_from(Account))
                         ).scalar_one()
        finally:
            await engine.dispose()
        assert first == second and before == after and len(first) >= 7
