"""The registry pages in Debian's Chromium, over the demo with its 1% synthetic population (what
`make demo` loads): a grid member opens the grid's registry on a desktop (residents masked,
households by building → room → members, special groups due a visit, key places — each tab
against the database), searches by an exact ID number, an invalid one, a name prefix and an
address; the grid leader (pii:read) opens a person in clear and the admin finds that view in
the PII access log, while the grid member sees the number masked; on a 360 px phone nothing
scrolls sideways; a commander of another county gets the not-found page for the grid and the
person. Screenshots go to test-artifacts/registry-*.png."""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import ARTIFACTS, ServerThread, api_json, require_chromium, sql_rows
from tests.e2e.test_cases import DESKTOP, PHONE, _log_in, _token, _watch
from tests.factories import PASSWORD, create_account

from wangge.config import Settings
from wangge.demo import DEMO_GRID, SEED
from wangge.kit.crypto import PiiCipher, cipher_for
from wangge.registry.pages import PAGE_SIZE
from wangge.registry.reads import MAX_DUE

pytestmark = [
    pytest.mark.e2e,
    # One database is enough for the browser: the SQLite variant of the demo, copied (the
    # population is added to the copy, and views are logged).
    pytest.mark.parametrize("xinxiang", ["sqlite"], indirect=True),
]

CITY = DEMO_GRID[:4]
DEMO_REGISTRY_SCALE = 0.01  # wangge.cli.DEMO_REGISTRY_SCALE: what `make demo` loads
OTHER_COUNTY = "410703"  # 卫滨区
OTHER_USER = "other-county"
MASKED = re.compile(r"^\d{4}\*{10}\d{3}[\dX]$")


@dataclass
class Registry:
    """The served copy, the cipher it encrypts with and a way to read its rows."""

    server: ServerThread
    url: str
    cipher: PiiCipher

    def rows(self, sql: str, **params: Any) -> list[Any]:
        return sql_rows(self.url, sql, **params)


@pytest.fixture(scope="module")
def registry(xinxiang: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The demo's population (generated like `make demo` does) on a copy of the demo, a
    commander of another county, and the app over it."""
    require_chromium()
    from wangge.kit.cli import run_sync
    from wangge.kit.db import create_engine as create_async
    from wangge.registry.generate import generate_registry

    work = tmp_path_factory.mktemp("e2e-registry")
    shutil.copy(Path(xinxiang.split(":///", 1)[1]), work / "registry.db")
    url = f"sqlite+aiosqlite:///{work / 'registry.db'}"
    settings = Settings(database_url=url, photo_dir=work / "photos")
    cipher = cipher_for(settings.pii_key, settings.pii_key_file)

    async def populate() -> None:
        engine = create_async(url)
        try:
            await generate_registry(engine, CITY, DEMO_REGISTRY_SCALE, SEED, cipher)
        finally:
            await engine.dispose()

    run_sync(populate)
    create_account(url, OTHER_USER, posts=[f"commander@{OTHER_COUNTY}"],
                   person_name="外区指挥员")
    with ServerThread(settings) as server:
        yield Registry(server, url, cipher)


def _fold(text: str) -> str:
    """Typed address text as the search folds it (NFKC, no spaces, lowercase)."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.add_style_tag(content=".topbar, .submit-bar { position: static !important; }")
    page.screenshot(path=str(ARTIFACTS / f"registry-{name}.png"), full_page=True)


def _ids(page: Any, selector: str) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all(
        f'{selector} a[href^="/registry/residents/"]',
        "els => els.map(a => a.getAttribute('href').split('/').pop())")]


def _tab(page: Any, name: str) -> None:
    with page.expect_navigation():
        page.locator(f'[data-testid="reg-tabs"] [data-tab="{name}"]').click()
    assert page.locator(f'[data-testid="reg-tabs"] [data-tab="{name}"]').get_attribute(
        "aria-current") == "page"


def _search(page: Any, by: str, q: str) -> None:
    page.locator('[data-testid="reg-by"]').select_option(by)
    page.fill("#reg-q", q)
    with page.expect_navigation():
        page.locator('[data-testid="reg-search"] button[type="submit"]').click()


def _latin(page: Any) -> list[str]:
    """Latin words in the page's content: in the zh-CN UI, English or a raw code leaking."""
    return re.findall(r"[A-Za-z_]{2,}", page.locator("main").inner_text())


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_grid_and_its_people(registry: Registry, browser: Any) -> None:
    server, grid = registry.server, DEMO_GRID
    errors: list[str] = []
    foreign: list[str] = []

    # What the database holds for the grid (the pages must show exactly this).
    residents = registry.rows(
        "SELECT id, name, id_number_enc, id_number_masked, household_id FROM residents"
        " WHERE region_code = :g AND merged_into_id IS NULL ORDER BY id", g=grid)
    addresses = {r[0]: r for r in registry.rows(
        "SELECT id, parent_id, kind, label, text, normalised FROM addresses"
        " WHERE region_code = :g", g=grid)}
    households = registry.rows(
        "SELECT id, address_id FROM households WHERE region_code = :g", g=grid)
    tags = registry.rows(
        "SELECT resident_id, visit_interval_days, last_visit_at FROM resident_tags"
        " WHERE region_code = :g AND active", g=grid)
    places = registry.rows("SELECT id, name FROM places WHERE region_code = :g", g=grid)
    assert len(residents) > 5 and households and tags and places, \
        "the demo population should give the demo grid people, households, tags and places"

    def building_of(address_id: int) -> int:
        while addresses[address_id][2] not in ("building", "house"):
            address_id = addresses[address_id][1]
        return address_id

    by_building: dict[int, list[int]] = {}
    for hid, aid in households:
        by_building.setdefault(building_of(aid), []).append(hid)
    now = datetime.now(UTC)

    def is_due(last: Any, days: int) -> bool:
        if last is None:
            return True
        at = last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
        return now - at.replace(tzinfo=at.tzinfo or UTC) >= timedelta(days=days)

    due = [t for t in tags if is_due(t[2], t[1])]

    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    lead = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True)
    other = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    try:
        member, leader, mobile, outsider = (desk.new_page(), lead.new_page(), phone.new_page(),
                                            other.new_page())
        for page in (member, leader, mobile, outsider):
            _watch(page, server, errors, foreign)

        # --- 1. the grid member's registry, tab by tab --------------------------------------
        _log_in(member, server, "grid-member", f"/registry/{grid}")
        name = registry.rows("SELECT name FROM regions WHERE code = :g", g=grid)[0][0]
        assert member.locator('[data-testid="reg-title"]').inner_text().startswith(name)
        assert member.locator('[data-testid="mainnav"] [data-nav="registry"]').get_attribute(
            "aria-current") == "page"
        rows = member.locator('[data-testid="reg-resident"]')
        assert rows.count() == min(len(residents), PAGE_SIZE)
        # Newest first; every ID number masked like 4107**********123X.
        assert _ids(member, '[data-testid="reg-residents"]') == [
            r[0] for r in reversed(residents)][:PAGE_SIZE]
        shown = member.locator('[data-testid="reg-residents"] .reg-meta .mono').all_inner_texts()
        assert shown and all(MASKED.match(s) for s in shown), shown
        assert set(shown) <= {r[3] for r in residents}
        assert _latin(member) == []
        page_text = member.content()
        for r in residents:
            assert registry.cipher.decrypt(r[2], "id_number") not in page_text
        _shot(member, "1-residents")

        _tab(member, "households")
        buildings = member.locator('[data-testid="reg-buildings"] li a')
        assert buildings.count() == len(by_building)
        counts = {int(str(a)): n for a, n in zip(
            buildings.evaluate_all("els => els.map(a => a.dataset.id)"),
            [int(re.sub(r"\D", "", s)) for s in
             member.locator('[data-testid="reg-buildings"] .badge').all_inner_texts()],
            strict=True)}
        assert counts == {b: len(h) for b, h in by_building.items()}
        _shot(member, "2-buildings")

        building = max(by_building, key=lambda b: len(by_building[b]))
        with member.expect_navigation():
            member.locator(f'[data-testid="reg-buildings"] a[data-id="{building}"]').click()
        assert addresses[building][4] in member.locator('[data-testid="reg-building"]').inner_text()
        assert member.locator('[data-testid="reg-household"]').count() == len(
            by_building[building])
        members = {r[0] for r in residents if r[4] in by_building[building]}
        assert set(_ids(member, '[data-testid="reg-households"]')) == members
        assert _latin(member) == []
        _shot(member, "3-building")

        _tab(member, "groups")
        summary = member.locator(".reg-summary").inner_text()
        assert summary == f"在册 {len(tags)} 人次，{len(due)} 人次待走访"
        assert sorted(_ids(member, '[data-testid="reg-groups"]')) == sorted(t[0] for t in due)
        assert _latin(member) == []
        _shot(member, "4-groups")

        _tab(member, "places")
        assert member.locator('[data-testid="reg-place"] .reg-name').all_inner_texts() == [
            p[1] for p in sorted(places, key=lambda p: -p[0])][:PAGE_SIZE]
        assert _latin(member) == []
        _shot(member, "5-places")

        # --- 2. search -------------------------------------------------------------------------
        person = next(r for r in reversed(residents) if r[0] in {t[0] for t in tags})
        number = registry.cipher.decrypt(person[2], "id_number")
        _search(member, "id_number", number)
        assert member.locator('[data-testid="reg-tabs"] [data-tab="residents"]').get_attribute(
            "aria-current") == "page"
        assert _ids(member, '[data-testid="reg-residents"]') == [person[0]]

        bad = number[:-1] + ("0" if number[-1] != "0" else "1")
        _search(member, "id_number", bad)
        error = member.locator('[data-testid="reg-search-error"]')
        assert error.inner_text().startswith("身份证号无效：校验码错误（应为")
        assert member.input_value("#reg-q") == bad
        assert member.locator('[data-testid="reg-by"]').input_value() == "id_number"
        assert member.locator("#reg-q").get_attribute("aria-invalid") == "true"
        _shot(member, "6-search-invalid")

        surname = person[1][0]
        _search(member, "name", surname)
        named = [r[0] for r in reversed(residents) if r[1].startswith(surname)]
        assert _ids(member, '[data-testid="reg-residents"]') == named[:PAGE_SIZE]
        assert "“" + surname + "”的查找结果" in member.locator(
            '[data-testid="reg-search"]').inner_text()

        # The start of a building's address, written with a space and full-width digits.
        text = addresses[building][4]
        typed = text[:-4] + " " + text[-4:].translate(str.maketrans("0123456789",
                                                                    "０１２３４５６７８９"))
        _search(member, "address", typed)
        assert member.locator('[data-testid="reg-tabs"] [data-tab="households"]').get_attribute(
            "aria-current") == "page"
        hits = member.locator('[data-testid="reg-address-hits"] li.reg-item')
        expected = [a for a in addresses.values() if a[5].startswith(_fold(typed))]
        assert hits.count() == min(len(expected), 30) and hits.count() > 0
        assert text in hits.first.inner_text()
        _shot(member, "7-search-address")

        # --- 3. one person: in clear for pii:read (logged), masked without it -----------------
        _log_in(leader, server, "grid-leader", f"/registry/residents/{person[0]}")
        assert leader.locator('[data-testid="reg-person"]').inner_text() == person[1]
        assert leader.locator('[data-testid="reg-id-number"]').inner_text() == number
        assert leader.locator('[data-testid="reg-logged"]').inner_text() == "本次查看已记录"
        # Tags, their fields and values in Chinese (no raw codes such as "kind: child").
        assert leader.locator('[data-testid="reg-tags"] .reg-tag-card').count() == len(
            [t for t in tags if t[0] == person[0]])
        assert _latin(leader) == []
        _shot(leader, "8-person-clear")
        log = api_json(server, f"/api/v1/pii-access?resident={person[0]}", _token(server, "admin"))
        entries = log["items"]
        assert [(e["actor"], e["route"]) for e in entries] == [
            ("grid-leader", f"/registry/residents/{person[0]}")], entries

        member.goto(f"{server.url}/registry/residents/{person[0]}")
        assert member.locator('[data-testid="reg-id-number"]').inner_text() == person[3]
        assert MASKED.match(person[3])
        assert member.locator('[data-testid="reg-logged"]').count() == 0
        assert number not in member.content()
        assert "号码已脱敏显示" in member.locator('[data-testid="reg-facts"]').inner_text()
        _shot(member, "9-person-masked")
        # The language switch keeps English available.
        member.goto(f"{server.url}/registry/residents/{person[0]}?lang=en")
        assert member.locator('[data-testid="reg-facts"] h2').inner_text() == "Facts"
        _shot(member, "10-person-en")
        member.goto(f"{server.url}/registry/{grid}?lang=zh")

        # The county commander sees the county's groups due a visit, grid by grid.
        county_tags = registry.rows(
            "SELECT visit_interval_days, last_visit_at FROM resident_tags"
            " WHERE region_code LIKE :c AND active", c=f"{grid[:6]}%")
        county_due = sum(is_due(t[1], t[0]) for t in county_tags)
        _log_in(outsider, server, "county", f"/registry/{grid[:6]}?tab=groups")
        assert 0 < county_due < MAX_DUE
        assert outsider.locator(".reg-summary").inner_text() == (
            f"在册 {len(county_tags)} 人次，{county_due} 人次待走访")
        assert outsider.locator('[data-testid="reg-due"]').count() == county_due
        assert _latin(outsider) == []
        _shot(outsider, "13-county-groups")
        outsider.context.clear_cookies()

        # --- 4. on a phone nothing scrolls sideways ---------------------------------------------
        _log_in(mobile, server, "grid-member", f"/registry/{grid}")
        assert mobile.locator('[data-testid="reg-resident"]').count() == min(len(residents),
                                                                              PAGE_SIZE)
        _no_sideways_scroll(mobile)
        _shot(mobile, "11-phone")
        mobile.goto(f"{server.url}/registry/residents/{person[0]}")
        _no_sideways_scroll(mobile)
        _shot(mobile, "12-person-phone")

        # --- 5. another county's commander finds neither the grid nor the person -------------
        outsider.goto(f"{server.url}/registry/{grid}")
        outsider.fill("#username", OTHER_USER)
        outsider.fill("#password", PASSWORD)
        with outsider.expect_navigation():
            outsider.locator('[data-testid="login-submit"]').click()
        assert outsider.url == f"{server.url}/registry/{grid}"
        for path in (f"/registry/{grid}", f"/registry/residents/{person[0]}"):
            response = outsider.goto(f"{server.url}{path}")
            assert response.status == 404, path
            assert outsider.locator('[data-testid="not-found"]').is_visible()
            assert person[1] not in outsider.content()
            _shot(outsider, "14-other-county-grid" if "residents" not in path
                  else "15-other-county-person")

        assert errors == []
        assert foreign == [], "pages must not load anything from other hosts"
    finally:
        for ctx in (desk, lead, phone, other):
            ctx.close()
