"""The ``wangge`` command line (Typer). Commands call domain services; they never write rows."""

from __future__ import annotations

import json
import time
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, cast

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


audit_app = typer.Typer(help="The tamper-evident audit trail", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _anchor(value: str) -> tuple[int, str]:
    rid, _, digest = value.partition(":")
    if not rid.isdigit() or len(digest) != 64:
        raise typer.BadParameter(f"{value!r} is not ID:HASH (a record id and its 64-hex hash)")
    return int(rid), digest.lower()


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[list[str] | None, typer.Option(
        help="ID:HASH of a head printed by an earlier run; it must still be in the chain "
             "(repeatable)")] = None,
) -> None:
    """Recomputes the hash chain; prints the head (keep it) or the first broken link (exit 1)."""
    from wangge.audit.chain import Verification
    from wangge.audit.service import audit_service

    anchors = [_anchor(a) for a in anchor or []]

    async def work(engine: AsyncEngine) -> Verification:
        total = await audit_service.count(engine)
        with progress_bar("audit records", total) as advance:
            return await audit_service.verify(engine, anchors=anchors, progress=advance)

    result = run_with_engine(work)
    if result.broken is not None:
        print(f"BROKEN at record {result.broken.record_id}: {result.broken.reason} "
              f"({result.checked:,} records read)")
        raise typer.Exit(1)
    print(f"OK: {result.checked:,} audit records checked, chain intact; "
          f"head {result.head_id}:{result.head_hash}")


users_app = typer.Typer(help="Accounts and log-ins", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Log-in name")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                          confirmation_prompt=True, help="At least 8 characters")],
    post: Annotated[list[str] | None, typer.Option(
        help="ROLE@CODE: a role at a region code or an organisation code (repeatable)")] = None,
    name: Annotated[str | None, typer.Option(help="The staff person's name")] = None,
    staff_no: Annotated[str | None, typer.Option(
        help="Link to this existing staff person (and the posts they hold)")] = None,
) -> None:
    """Creates an account (and its staff person). Without a post it can log in but sees nothing."""
    from wangge.auth.service import auth_service

    async def work(engine: AsyncEngine) -> int:
        async with create_sessionmaker(engine)() as session:
            account = await auth_service.create_account(
                session, Subject.everything(), username, password, post or [],
                person_name=name, staff_no=staff_no)
            await session.commit()
            return account.id

    account_id = run_with_engine(work)
    posts = ", ".join(post or []) or "no post (sees nothing)"
    console.print(f"created account {username} (id {account_id}): {posts}")


@users_app.command("revoke")
def users_revoke(username: Annotated[str, typer.Argument(help="Log-in name")]) -> None:
    """Deactivates an account and ends all of its sessions."""
    from wangge.auth.service import auth_service

    async def work(engine: AsyncEngine) -> int:
        async with create_sessionmaker(engine)() as session:
            n = await auth_service.revoke_account(session, Subject.everything(), username)
            await session.commit()
            return n

    n = run_with_engine(work)
    console.print(f"revoked {username}: account deactivated, {n} session(s) ended")


cases_app = typer.Typer(help="Cases (事件): deadlines and categories", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
directives_app = typer.Typer(help="Directives (指令): deadlines", no_args_is_help=True)
app.add_typer(directives_app, name="directives")
calendar_app = typer.Typer(help="The working-day calendar: holidays and make-up workdays",
                           no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")


@cases_app.command("sweep")
def cases_sweep(
    grace_hours: Annotated[float | None, typer.Option(
        min=0, help="Hours overdue before escalating (default "
                    "WANGGE_CASE_ESCALATION_GRACE_HOURS)")] = None,
) -> None:
    """Runs one deadline sweep now: marks overdue steps, escalates the long-overdue cases."""
    from wangge.cases.tasks import SweepResult, sweep

    async def work(engine: AsyncEngine) -> SweepResult:
        async with create_sessionmaker(engine)() as session:
            result = await sweep(session, grace_hours=grace_hours)
            await session.commit()
            return result

    result = run_with_engine(work)
    print(f"marked overdue: {result.marked:,}; supervised (escalated): {result.supervised:,}")


@directives_app.command("sweep")
def directives_sweep(
    emergency_minutes: Annotated[float | None, typer.Option(
        min=0, help="Minutes an emergency may stay unacknowledged before escalating (default "
                    "WANGGE_DIRECTIVE_EMERGENCY_MINUTES)")] = None,
) -> None:
    """Runs one directive deadline sweep now: marks late units, escalates emergencies."""
    from wangge.directives.tasks import DirectiveSweepResult, sweep

    async def work(engine: AsyncEngine) -> DirectiveSweepResult:
        async with create_sessionmaker(engine)() as session:
            result = await sweep(session, emergency_minutes=emergency_minutes)
            await session.commit()
            return result

    result = run_with_engine(work)
    print(f"marked overdue: {result.marked:,}; escalated: {result.escalated:,}")


@cases_app.command("generate")
def cases_generate(
    city: Annotated[str, typer.Option(help="City code")] = "4107",
    count: Annotated[int, typer.Option(min=1, help="How many cases")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
) -> None:
    """Generates synthetic demo cases through the case service (none if the city has cases)."""
    from wangge.cases.demo import generate_cases

    async def work(engine: AsyncEngine) -> None:
        await generate_cases(engine, city=city, count=count, seed=seed, say=console.print)

    run_with_engine(work)


@cases_app.command("categories")
def cases_categories() -> None:
    """Prints the case category tree with each category's level, department and time limits."""
    from wangge.cases.schemas import CategoryOut
    from wangge.cases.service import case_service
    from wangge.cases.workflow import STEPS

    async def work(engine: AsyncEngine) -> list[CategoryOut]:
        async with create_sessionmaker(engine)() as session:
            return await case_service.categories(session, Subject.everything())

    table = Table(title=f"Case categories; limits {'/'.join(STEPS)} in m(inutes), h(ours), "
                        "d(ays), wd (working days)")
    for header in ("code", "name", "level", "goes to", "limits", "notes"):
        table.add_column(header, no_wrap=header != "name", overflow="fold")
    for c in run_with_engine(work):
        indent = "  " if c.parent_code else ""
        notes = [n for n, on in (("police", c.police_only), ("inactive", not c.active))
                 if on]
        table.add_row(indent + c.code, indent + c.name, c.handling_level,
                      c.department_kind or "", "/".join(c.limits.get(s, "-") for s in STEPS),
                      ", ".join(notes))
    Console().print(table)


class DayKind(StrEnum):
    holiday = "holiday"
    workday = "workday"


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD",
                                 param_hint="DAY") from None


@calendar_app.command("set")
def calendar_set(
    day: Annotated[str, typer.Argument(help="The day, YYYY-MM-DD")],
    kind: Annotated[DayKind, typer.Argument(help="holiday (off) or workday (worked)")],
    name: Annotated[str, typer.Argument(help="What the day is, e.g. 国庆节调休上班")],
) -> None:
    """Overrides one day of the working-day calendar (wins over the official calendar)."""
    from wangge.cases.schemas import CalendarDayOut
    from wangge.cases.service import case_service

    when = _day(day)
    if not 1 <= len(name.strip()) <= 64:
        raise typer.BadParameter("between 1 and 64 characters", param_hint="NAME")

    async def work(engine: AsyncEngine) -> CalendarDayOut:
        async with create_sessionmaker(engine)() as session:
            out = await case_service.set_calendar_day(session, Subject.everything(), when,
                                                      kind.value, name.strip())
            await session.commit()
            return out

    out = run_with_engine(work)
    console.print(f"{out.day} is now a {kind.value}: {out.name}")


@calendar_app.command("show")
def calendar_show(
    year: Annotated[int, typer.Argument(min=2000, max=2100, help="e.g. 2026")],
) -> None:
    """Lists the year's official holidays, make-up workdays and local overrides."""
    from wangge.cases.schemas import CalendarDayOut
    from wangge.cases.service import case_service

    async def work(engine: AsyncEngine) -> list[CalendarDayOut]:
        async with create_sessionmaker(engine)() as session:
            return await case_service.calendar_days(session, Subject.everything(), year)

    table = Table("day", "weekday", "kind", "source", "name",
                  title=f"Working-day calendar {year}: days off on weekdays, days worked at "
                        "weekends")
    for d in run_with_engine(work):
        table.add_row(d.day, f"{date.fromisoformat(d.day):%a}",
                      "workday" if d.workday else "holiday", d.source, d.name or "")
    Console().print(table)


registry_app = typer.Typer(help="The base registry: people, households, places",
                            no_args_is_help=True)
app.add_typer(registry_app, name="registry")


@registry_app.command("generate")
def registry_generate(
    city: Annotated[str, typer.Option(help="4-digit city code, e.g. 4107")],
    scale: Annotated[float, typer.Option(help="1 = about 6.25 million residents; the demo "
                                               "uses 0.01")],
    seed: Annotated[int, typer.Option(help="Seed of the synthetic population")] = 7,
) -> None:
    """Generates a synthetic population (addresses, households, residents, special groups,
    key places); does nothing if the city already has residents."""
    from wangge.kit.crypto import cipher_for
    from wangge.registry.generate import RESIDENTS_PER_SCALE, generate_registry

    async def work(engine: AsyncEngine) -> None:
        settings = get_settings()
        cipher = cipher_for(settings.pii_key, settings.pii_key_file)
        started = time.perf_counter()
        with progress_bar("residents", round(RESIDENTS_PER_SCALE * scale)) as advance:
            s = await generate_registry(engine, city, scale, seed, cipher, progress=advance)
        if s.skipped:
            console.print(f"{city} already has {s.existing_residents:,} residents: nothing "
                          "generated")
            return
        groups = ", ".join(f"{n:,} {k}" for k, n in sorted(s.tags_by_category.items()))
        console.print(f"{s.residents:,} residents in {s.households:,} households at "
                      f"{s.addresses:,} addresses over {s.grids:,} grids; {s.places:,} key "
                      f"places; in {time.perf_counter() - started:.1f} s")
        console.print(f"special groups: {groups or 'none'}; {s.foreign:,} foreign residents")
        console.print(f"{s.enterprises - s.social_orgs:,} enterprises and {s.social_orgs:,} "
                      f"social organisations; {s.compounds:,} \"three-no\" compounds, "
                      f"{s.rectified:,} of them rectified")

    run_with_engine(work)


class ImportMode(StrEnum):
    all = "all"
    valid = "valid"


@registry_app.command("import")
def registry_import(
    file: Annotated[Path, typer.Argument(help=".csv (UTF-8 or GBK) or .xlsx")],
    entity: Annotated[str, typer.Option(help="what the file holds: residents, households or "
                                        "places")] = "residents",
    mode: Annotated[ImportMode, typer.Option(help="all: any invalid row imports nothing; "
                                                  "valid: import the valid rows")] = ImportMode.all,
    as_user: Annotated[str | None, typer.Option("--as", help="act as this account (its scope "
                                                "and rights); default: system")] = None,
) -> None:
    """Imports residents, households or key places with a report (row, field, reason);
    duplicates are reported, never stored twice. Nothing imported and a problem found: exit
    code 2."""
    from wangge.kit.crypto import cipher_for
    from wangge.kit.errors import InvalidInput
    from wangge.registry.imports import SPECS, Entity, registry_imports

    async def work(engine: AsyncEngine) -> bool:
        if entity not in SPECS:
            raise InvalidInput("entity", "must be one of " + ", ".join(SPECS))
        if not file.is_file():
            raise InvalidInput("file", "no such file", file=str(file))
        settings = get_settings()
        cipher = cipher_for(settings.pii_key, settings.pii_key_file)
        async with create_sessionmaker(engine)() as session, session.begin():
            subject = await registry_imports.acting_as(session, as_user)
            report = await registry_imports.run(session, subject, cipher,
                                                cast(Entity, entity), file.name,
                                                file.read_bytes(), mode.value)
        table = Table("row", "field", "reason", title=f"{file.name}: {report.rows:,} rows, "
                      f"{report.imported:,} imported, {len(report.errors):,} problems, "
                      f"{len(report.duplicates):,} duplicates")
        shown = 200  # enough to act on; the rest would scroll the terminal away
        for e in report.errors[:shown]:
            table.add_row(str(e.row), e.field, e.reason)
        for d in report.duplicates[:max(0, shown - len(report.errors))]:
            table.add_row(str(d.row), SPECS[entity].key_field, f"duplicate: {d.reason}")
        if report.errors or report.duplicates:
            console.print(table)
        else:
            console.print(table.title)
        return bool(report.imported) or not report.errors

    if not run_with_engine(work):
        raise typer.Exit(2)


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


# The demo's population: about 1% of the city's (62,000 residents; S=1 is 6.25 million).
DEMO_REGISTRY_SCALE = 0.01


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve when ready")
    ] = True,
) -> None:
    """Migrates, prepares the Xinxiang demo (and a small synthetic population) if it is not
    there yet, and serves it."""
    from wangge.demo import CITY, DEMO_PASSWORD, SEED, is_prepared, prepare, prepare_accounts

    settings = get_settings()
    migrate.upgrade(settings.database_url)

    async def work(engine: AsyncEngine) -> None:
        if await is_prepared(engine):
            console.print("Xinxiang demo already prepared")
            # Databases prepared before cases existed get their demo cases now (idempotent).
            from wangge.cases.demo import generate_cases

            await generate_cases(engine, city=CITY, seed=SEED, say=console.print)
        else:
            started = time.perf_counter()
            await prepare(engine, seed=SEED, city=CITY, say=console.print)
            console.print(f"Xinxiang demo prepared in {time.perf_counter() - started:.0f} s")
        # A small synthetic population (idempotent: nothing when the city has residents).
        from wangge.kit.crypto import cipher_for
        from wangge.registry.generate import generate_registry

        summary = await generate_registry(
            engine, CITY, DEMO_REGISTRY_SCALE, SEED,
            cipher_for(settings.pii_key, settings.pii_key_file))
        if not summary.skipped:
            console.print(f"registry: {summary.residents:,} residents, "
                          f"{summary.households:,} households, {summary.places:,} places")
        from wangge.registry.demo import ensure_plans

        await ensure_plans(engine, CITY, say=console.print)

    run_with_engine(work)
    logins = run_with_engine(prepare_accounts)
    table = Table("user name", "post", "person",
                  title=f"Demo log-ins, password {DEMO_PASSWORD} (demonstration only)")
    for login in logins:
        table.add_row(login.username, ", ".join(login.posts), login.person)
    Console().print(table)
    url = f"http://{settings.host}:{settings.port}/"
    console.print(f"\n[bold]Wangge is ready:[/bold] {url}  (log in with an account above)")
    if serve_after:
        serve(host=None, port=None)


if __name__ == "__main__":
    app()
