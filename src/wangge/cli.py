"""The ``wangge`` command line (Typer). Commands call domain services; they never write rows."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from wangge.config import get_settings
from wangge.kit import migrate
from wangge.kit.cli import console, progress_bar, run_with_engine
from wangge.org.divisions import Selection
from wangge.org.service import org_service

app = typer.Typer(help="Wangge (网格) grid governance platform", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
divisions_app = typer.Typer(help="Official division codes", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(divisions_app, name="divisions")


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
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve when ready")] = True,
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
