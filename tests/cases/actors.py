"""A writable copy of the demo database and the people who act on cases in it.

The demo accounts (admin at the city, county, township, village commanders, the four "3+N"
posts of the demo grid) plus a police station officer serving the demo grid and two outsiders:
a grid leader of the sibling grid and a commander of the sibling county.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from tests.authz.harness_support import clone_database
from tests.factories import create_account

from wangge.auth.repository import AuthRepository
from wangge.auth.subjects import subject_for
from wangge.authz.scope import Subject
from wangge.geo.service import GridIndexCache
from wangge.models import Case, CaseAction, CasePhoto

GRID = "410702002022003"  # the demo grid (demo.DEMO_GRID)
VILLAGE, TOWNSHIP, COUNTY, CITY = GRID[:12], GRID[:9], GRID[:6], GRID[:4]
SIBLING_GRID = "410702002022002"
SIBLING_COUNTY = "410703"
STATION = "PS410702002"  # 东街派出所: covers the demo grid's township

DEMO_USERS = ("admin", "county", "township", "village", "grid-leader", "grid-deputy",
              "grid-member", "grid-support")
EXTRA_USERS: dict[str, str] = {
    "case-police": f"department_officer@{STATION}",
    "case-sibling-grid": f"grid_leader@{SIBLING_GRID}",
    "case-sibling-county": f"commander@{SIBLING_COUNTY}",
}
OUTSIDERS = ("case-sibling-grid", "case-sibling-county")
ACTORS = DEMO_USERS + tuple(EXTRA_USERS)
# One point → grid index for the modules using these copies (rebuilt only when the grids differ,
# e.g. between the two backends' demo databases).
INDEX = GridIndexCache()


def writable_demo(xinxiang: str, pg_schemas: list[str], directory: Path) -> str:
    """A private copy of the demo database with the extra accounts; returns its URL."""
    url = clone_database(xinxiang, pg_schemas, directory)
    for username, post in EXTRA_USERS.items():
        create_account(url, username, posts=[post], person_name=username)
    return url


async def load_subjects(session: AsyncSession) -> dict[str, Subject]:
    """Every actor's subject, as a request of theirs would see it."""
    repo = AuthRepository(session)
    out: dict[str, Subject] = {}
    for username in ACTORS:
        account = await repo.account_by_username(username)
        assert account is not None, f"no account {username} in the demo copy"
        out[username] = await subject_for(session, account)
    return out


async def remove_cases(session: AsyncSession) -> None:
    """Deletes every case (tests that sweep the whole table start from none)."""
    for model in (CasePhoto, CaseAction, Case):
        await session.execute(delete(model))
    await session.commit()
