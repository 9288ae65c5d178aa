from __future__ import annotations

import pytest
from sqlalchemy import select

from wangge.authz.scope import Subject, prefix_end, readable
from wangge.kit.db import create_engine
from wangge.models import Region
from wangge.org.divisions import Selection
from wangge.org.service import org_service

pytestmark = pytest.mark.anyio


class TestPrefixEnd:
    @pytest.mark.parametrize(
        ("prefix", "end"),
        [("4107", "4108"), ("410799", "4108"), ("41", "42"), ("9", None), ("99", None), ("", None)],
    )
    def test_smallest_code_above_the_subtree(self, prefix: str, end: str | None) -> None:
        assert prefix_end(prefix) == end


class TestInSubtree:
    def test_a_grid_is_an_equality_and_anything_above_a_range(self) -> None:
        from wangge.authz.scope import in_subtree
        from wangge.models import Case, Resident

        grid = in_subtree(Resident.region_code, "410702002022003").compile()
        assert str(grid) == "residents.region_code = :region_code_1"
        county = in_subtree(Resident.region_code, "410702").compile()
        assert county.params == {"region_code_1": "410702", "region_code_2": "410703"}
        # Category codes are longer than 15: a 15-character one still has a subtree.
        assert ">=" in str(in_subtree(Case.category_code, "123456789012345").compile())


class TestReadable:
    async def _codes(self, url: str, subject: Subject) -> set[str]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            rows = await conn.scalars(readable(subject, select(Region.code), Region.code))
            out = set(rows)
        await engine.dispose()
        return out

    async def test_scope_is_the_union_of_prefix_ranges_and_empty_means_nothing(
        self, database: str
    ) -> None:
        engine = create_engine(database)
        await org_service.load_divisions(engine, Selection(province="41", city="4107"))
        await engine.dispose()

        everything = await self._codes(database, Subject.everything())
        assert len(everything) == 4012
        assert await self._codes(database, Subject("nobody")) == set()
        two = await self._codes(database, Subject("two", ("410702", "410703001")))
        assert two and all(c.startswith(("410702", "410703001")) for c in two)
        assert "410703" not in two and "4107" not in two
        assert len(two) == sum(1 for c in everything if c.startswith(("410702", "410703001")))
