"""The ``wangge`` command line (Typer). Commands call domain services; they never write rows."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from wangge.authz.scope import Subject
from wangge.config import get_settings
from wangge.kit import migrate
from wangge.kit.cli import console, progress_bar, run_with_engine
from wangge.kit.db import create_sessionmaker
from wangge.models.post import GRID_ROLES
from wangge.org.divisions import Selection
from wangge.org.service import org_service
from wangge.org.staff_import import COLUMNS as STAFF_COLUMNS
from wangge.org.stats import RegionStats, region_stats

app = typer.Typer(help="Wangge (网格) grid governance platform", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
divisions_app = typer.Typer(help="Official division codes", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(divisions_app, name="divisions")
staff_app = typer.Typer(help='Staff in "3+N" posts', no_args_is_help=True)
regions_app = typer.Typer(help="The region tree", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
app.add_typer(regions_app, name="regions")
grids_app = typer.Typer(help="Synthetic grids (网格) and region polygons", no_args_is_help=True)
app.add_typer(grids_app, name="grids")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Runs the Alembic migrations up to REVISION (default: head)."""
    migrate.upgrade(get_settings().database_url, revision)
    console.print(f"database at {revision}")


@divisions_app.command("load")
def divisions_load(
    city: Annotated[str | None, typer.Option(help="4-digit city code, e.g. 4107")] = None,
    province: Annotated[str | None, typer.Option(help="2-digit province code, e.g. 41")] = None,
    all_: Annotated[bool, typer.Option("--all", help="All of China")] = False,
) -> None:
    """Loads division codes (idempotent, one transaction)."""

    async def work(engine: AsyncEngine) -> int:
        sel = Selection.parse(city=city, province=province, all_=all_)
        started = time.perf_counter()
        with progress_bar("regions", None) as advance:
            n = await org_service.load_divisions(engine, sel, progress=advance)
        console.print(f"loaded {n:,} regions in {time.perf_counter() - started:.1f} s")
        return n

    run_with_engine(work)


@grids_app.command("generate")
def grids_generate(
    city: Annotated[str, typer.Option(help="4-digit city code, e.g. 4107")],
    seed: Annotated[int, typer.Option(help="Seed of the synthetic grids and shapes")] = 7,
) -> None:
    """Generates grids, households and polygons for a city (replaces an earlier run)."""

    async def work(engine: AsyncEngine) -> None:
        started = time.perf_counter()
        with progress_bar("villages partitioned", None) as advance:
            s = await org_service.generate_grids(engine, city, seed, progress=advance)
        console.print(
            f"{s.grids:,} grids ({s.urban_grids:,} urban) in {s.villages:,} villages, "
            f"{s.households:,} households, {s.shapes:,} shapes "
            f"in {time.perf_counter() - started:.1f} s"
        )
        if s.staff_removed:
            console.print(f"removed {s.staff_removed:,} synthetic staff who held posts at the old "
                          f"grids; run: wangge staff generate --city {city}")

    run_with_engine(work)


@staff_app.command("generate")
def staff_generate(
    city: Annotated[str, typer.Option(help="4-digit city code, e.g. 4107")],
    seed: Annotated[int, typer.Option(help="Seed of the synthetic staff")] = 7,
) -> None:
    """Generates synthetic organisations, people and "3+N" posts (replaces earlier ones)."""

    async def work(engine: AsyncEngine) -> None:
        started = time.perf_counter()
        with progress_bar("organisations, people, posts", None) as advance:
            plan = await org_service.generate_staff(engine, city, seed, progress=advance)
        kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(plan.organisations_by_kind().items()))
        roles = ", ".join(f"{n:,} {r}" for r, n in sorted(plan.posts_by_role().items()))
        grid_posts = sum(n for r, n in plan.posts_by_role().items() if r in GRID_ROLES)
        console.print(f"organisations: {kinds}")
        console.print(f"people: {len(plan.people):,}; posts: {roles}")
        console.print(f"{grid_posts:,} grid posts over {plan.grids:,} grids, "
                      f"in {time.perf_counter() - started:.1f} s")
        if not plan.grids:
            console.print(f"[yellow]no grids under {city}: run `wangge grids generate` first")

    run_with_engine(work)


@staff_app.command("import")
def staff_import(
    file: Annotated[Path, typer.Argument(help=".csv or .xlsx with columns "
                                             + ",".join(STAFF_COLUMNS))],
) -> None:
    """Imports staff and posts; any invalid row: a report, exit code 2 and nothing changed."""

    async def work(engine: AsyncEngine) -> bool:
        report, result = await org_service.import_staff(engine, file)
        if result is None:
            table = Table("row", "field", "reason", title=f"{file.name}: "
                          f"{len(report.issues)} problems, nothing imported")
            shown = 200  # enough to act on; the rest would scroll the terminal away
            for issue in report.issues[:shown]:
                table.add_row(str(issue.row), issue.field, issue.reason)
            console.print(table)
            if len(report.issues) > shown:
                console.print(f"... and {len(report.issues) - shown:,} more")
            return False
        console.print(
            f"imported {file.name} ({len(report.rows):,} rows): people "
            f"{result.people_created:,} new, {result.people_updated:,} updated; posts "
            f"{result.posts_created:,} new, "
            f"{result.posts_updated:,} updated"
        )
        return True

    if not run_with_engine(work):
        raise typer.Exit(2)


@regions_app.command("stats")
def regions_stats(
    code: Annotated[str, typer.Argument(help="Region code, e.g. 4107")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """Counts regions per level and staff posts per role beneath CODE."""

    async def work(engine: AsyncEngine) -> RegionStats:
        async with create_sessionmaker(engine)() as session:
            return await region_stats(session, Subject.everything(), code)

    stats = run_with_engine(work)
    if as_json:
        print(json.dumps(stats.model_dump(), ensure_ascii=False, indent=2))
        return
    table = Table("", "count", title=f"{stats.name} ({stats.code}, {stats.level})")
    for level, n in stats.regions.items():
        table.add_row(level, f"{n:,}")
    table.add_section()
    for role, n in stats.grid_staff.by_role.items():
        table.add_row(f"grid posts: {role}", f"{n:,}")
    table.add_row("grid posts: total", f"{stats.grid_staff.total:,}")
    table.add_row("people in grid posts", f"{stats.grid_staff.people:,}")
    table.add_section()
    for role, n in stats.posts_by_role.items():
        table.add_row(f"all posts: {role}", f"{n:,}")
    Console().print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default WANGGE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default WANGGE_PORT")] = None,
) -> None:
    """Serves the web app and API."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("wangge.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port)


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve when ready")
    ] = True,
) -> None:
    """Migrates, prepares the Xinxiang demo if it is not there yet, and serves it."""
    from wangge.demo import CITY, SEED, is_prepared, prepare

    settings = get_settings()
    migrate.upgrade(settings.database_url)

    async def work(engine: AsyncEngine) -> None:
        if await is_prepared(engine):
            console.print("Xinxiang demo already prepared")
            return
        started = time.perf_counter()
        await prepare(engine, seed=SEED, city=CITY, say=console.print)
        console.print(f"Xinxiang demo prepared in {time.perf_counter() - started:.0f} s")

    run_with_engine(work)
    url = f"http://{settings.host}:{settings.port}/"
    console.print(f"\n[bold]Wangge is ready:[/bold] {url}")
    console.print("Log-in arrives with accounts (issue #3); until then every page is open.")
    if serve_after:
        serve(host=None, port=None)


if __name__ == "__main__":
    app()
