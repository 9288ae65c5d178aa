"""Prepares the Xinxiang demo: divisions, grids with polygons, staff, demo log-ins, a month
of synthetic cases and a few directives in progress (all idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from wangge.kit.db import create_sessionmaker
from wangge.models import Person, Post
from wangge.org.divisions import Selection
from wangge.org.service import org_service

CITY = "4107"
SEED = 7


async def is_prepared(engine: AsyncEngine, city: str = CITY) -> bool:
    """True when the last step of ``prepare`` (staff posts at grids) has run for the city."""
    async with engine.connect() as conn:
        n = await conn.scalar(
            select(func.count()).select_from(Post).where(
                Post.region_code.startswith(city), func.length(Post.region_code) == 15
            )
        )
    return bool(n)


async def prepare(
    engine: AsyncEngine, seed: int = SEED, city: str = CITY,
    say: Callable[[str], None] = lambda _: None, cases: bool = True,
) -> None:
    """Loads the city's divisions and generates its grids, shapes, staff, demo log-ins and
    (unless ``cases`` is False) demo cases and directives."""
    n = await org_service.load_divisions(engine, Selection(province=city[:2], city=city))
    say(f"divisions: {n:,} regions")
    g = await org_service.generate_grids(engine, city, seed)
    say(f"grids: {g.grids:,} grids in {g.villages:,} villages, {g.shapes:,} shapes")
    # Staff stay last: they are planned on the grids generated above.
    plan = await org_service.generate_staff(engine, city, seed)
    say(f"staff: {len(plan.people):,} people in {len(plan.posts):,} posts")
    logins = await prepare_accounts(engine)
    say(f"accounts: {len(logins)} demo log-ins (password {DEMO_PASSWORD})")
    # Cases last: they are reported and handled by the staff and log-ins above.
    if cases:
        from wangge.cases.demo import generate_cases

        await generate_cases(engine, city=city, seed=seed, say=say)
        from wangge.directives.demo import generate_directives

        await generate_directives(engine, city, DEMO_GRID[:6], seed, say)


@dataclass(frozen=True)
class DemoLogin:
    """One demo account as `wangge demo` prints it."""

    username: str
    posts: tuple[str, ...]
    person: str


# Demo accounts above the grid: (user name, posts, person name). Grid accounts link to the
# synthetic staff who really hold the "3+N" posts of DEMO_GRID.
DEMO_ACCOUNTS = (
    ("admin", ("admin@4107", "commander@4107"), "市级管理员"),
    ("county", ("commander@410702",), "红旗区指挥中心"),
    ("township", ("commander@410702002",), "乡镇指挥中心"),
    ("village", ("commander@410702002022",), "村级指挥员"),
)
# A grid whose synthetic team has all four "3+N" roles (seed 7), under the accounts above.
DEMO_GRID = "410702002022003"
DEMO_GRID_ROLES = (
    ("grid_leader", "grid-leader"), ("deputy_grid_leader", "grid-deputy"),
    ("grid_member", "grid-member"), ("grid_support", "grid-support"),
)
DEMO_PASSWORD = "wangge-demo"


async def _grid_team(session: AsyncSession, grid: str) -> dict[str, tuple[str, str]]:
    """The first holder of each "3+N" role at ``grid``: role → (staff number, name)."""
    rows = await session.execute(
        select(Post.role, Person.staff_no, Person.name)
        .join(Person, Person.id == Post.person_id)
        .where(Post.region_code == grid).order_by(Post.id)
    )
    team: dict[str, tuple[str, str]] = {}
    for role, staff_no, name in rows:
        team.setdefault(role, (staff_no, name))
    return team


async def prepare_accounts(engine: AsyncEngine) -> list[DemoLogin]:
    """Creates the demo log-ins that are missing (idempotent); returns all of them."""
    from wangge.auth.repository import AuthRepository
    from wangge.auth.service import auth_service
    from wangge.authz.scope import Subject

    out: list[DemoLogin] = []
    async with create_sessionmaker(engine)() as session:
        repo = AuthRepository(session)
        system = Subject.everything()
        wanted: list[tuple[str, tuple[str, ...], str, str | None]] = [
            (u, posts, name, None) for u, posts, name in DEMO_ACCOUNTS
        ]
        team = await _grid_team(session, DEMO_GRID)
        for role, username in DEMO_GRID_ROLES:
            if role in team:
                number, holder = team[role]
                wanted.append((username, (f"{role}@{DEMO_GRID}",), holder, number))
        for username, posts, name, staff_no in wanted:
            if not await repo.region_exists(posts[0].split("@")[1]):
                continue  # the city is not loaded
            if await repo.account_by_username(username) is None:
                await auth_service.create_account(
                    session, system, username, DEMO_PASSWORD,
                    [] if staff_no else list(posts), person_name=name, staff_no=staff_no)
            out.append(DemoLogin(username, posts, name))
        await session.commit()
    return out
