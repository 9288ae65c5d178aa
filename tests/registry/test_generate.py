"""`wangge registry generate`: a small synthetic population on a copy of the demo."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.cases.actors import writable_demo
from typer.testing import CliRunner

from wangge.authz.scope import Subject
from wangge.cli import app as cli
from wangge.config import get_settings
from wangge.kit.cli import run_sync
from wangge.kit.crypto import PiiCipher, cipher_for
from wangge.kit.db import create_engine, create_sessionmaker
from wangge.kit.errors import InvalidInput
from wangge.models import (
    Address,
    Compound,
    Enterprise,
    Household,
    Place,
    Region,
    Resident,
    ResidentTag,
)
from wangge.registry import creditcode, generate, idnumber, phone
from wangge.registry.addresses import normalise_address
from wangge.registry.places import TAG_CATEGORIES, TAG_LEVELS
from wangge.registry.reads import registry_reads

CITY = "4107"
SCALE = 0.002  # about 12,500 residents
SEED = 3
runner = CliRunner()


def _cipher() -> PiiCipher:
    settings = get_settings()
    return cipher_for(settings.pii_key, settings.pii_key_file)


@pytest.fixture(scope="module")
def loaded(xinxiang: str, pg_schemas: list[str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A demo copy after one CLI run; yields (URL, the command's output)."""
    url = writable_demo(xinxiang, pg_schemas, Path(tmp_path_factory.mktemp("registry-gen")))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANGGE_DATABASE_URL", url)
        get_settings.cache_clear()
        result = runner.invoke(cli, ["registry", "generate", "--city", CITY, "--scale",
                                     str(SCALE), "--seed", str(SEED)])
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    yield url, result.output


def _rows(url: str, *columns: Any, where: Any = None) -> list[Any]:
    async def read() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                stmt = select(*columns)
                if where is not None:
                    stmt = stmt.where(where)
                return list((await conn.execute(stmt)).all())
        finally:
            await engine.dispose()

    return run_sync(read)


def _counts(url: str) -> dict[str, int]:
    return {m.__tablename__: _rows(url, func.count(m.id))[0][0]
            for m in (Address, Household, Resident, ResidentTag, Place, Enterprise, Compound)}


def _city_data(url: str) -> generate.CityData:
    async def read() -> generate.CityData:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await generate.read_city(conn, CITY)
        finally:
            await engine.dispose()

    return run_sync(read)


class TestCommand:
    def test_it_reports_what_it_wrote(self, loaded: tuple[str, str]) -> None:
        url, output = loaded
        counts = _counts(url)
        assert counts["residents"] > 10_000 and counts["households"] > 3_000
        text = " ".join(output.split())
        assert f"{counts['residents']:,} residents in {counts['households']:,} households" in text
        social = _rows(url, func.count(), where=Enterprise.kind == "social_org")[0][0]
        rectified = _rows(url, func.count(), where=Compound.status == "rectified")[0][0]
        assert (f"{counts['enterprises'] - social:,} enterprises and {social:,} social "
                f"organisations; {counts['compounds']:,} \"three-no\" compounds, "
                f"{rectified:,} of them rectified") in text
        foreign = _rows(url, func.count(), where=Resident.population_type == "foreign")[0][0]
        assert f"{foreign:,} foreign residents" in text

    def test_a_second_run_changes_nothing(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        before = _counts(url)

        async def again() -> generate.RegistrySummary:
            engine = create_engine(url)
            try:
                return await generate.generate_registry(engine, CITY, SCALE, SEED, _cipher())
            finally:
                await engine.dispose()

        summary = run_sync(again)
        assert summary.skipped and summary.existing_residents == before["residents"]
        assert _counts(url) == before

    def test_a_bad_scale_names_the_field(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded

        async def bad() -> None:
            engine = create_engine(url)
            try:
                await generate.generate_registry(engine, CITY, 0, SEED, _cipher())
            finally:
                await engine.dispose()

        with pytest.raises(InvalidInput) as raised:
            run_sync(bad)
        assert raised.value.detail["field"] == "scale"


class TestPii:
    def test_every_id_number_is_valid_and_stored_three_ways(
            self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        cipher = _cipher()
        rows = _rows(url, Resident.id_number_enc, Resident.id_number_hash,
                     Resident.id_number_masked, Resident.sex, Resident.birth_date,
                     Resident.population_type, Resident.region_code)
        numbers = set()
        for enc, digest, masked, sex, birth, population, region in rows:
            if population == "foreign":
                continue
            number = cipher.decrypt(enc, "id_number")
            parsed = idnumber.parse(number)
            assert parsed.value == number
            assert digest == cipher.keyed_hash("id_number", number)
            assert masked == idnumber.mask(number)
            assert (parsed.sex, parsed.birth) == (sex, birth)
            if population == "registered":
                assert number[:6] == region[:6]
            else:
                assert number[:6] != region[:6]
            numbers.add(number)
        assert len(numbers) == sum(1 for r in rows if r[5] != "foreign") > 10_000

    def test_adults_have_phones_stored_three_ways(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        cipher = _cipher()
        rows = _rows(url, Resident.phone_enc, Resident.phone_hash, Resident.phone_masked,
                     where=Resident.phone_enc.is_not(None))
        assert rows
        for enc, digest, masked in rows:
            number = cipher.decrypt(enc, "phone")
            assert phone.parse_phone(number) == number
            assert digest == cipher.keyed_hash("phone", number)
            assert masked == phone.mask_phone(number)


class TestPlacement:
    def test_residents_households_and_places_are_in_grids(
            self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        grids = {code for (code,) in _rows(url, Region.code, where=Region.level == "grid")}
        for model in (Address, Household, Resident, ResidentTag, Place, Enterprise, Compound):
            codes = {code for (code,) in _rows(url, model.region_code)}
            assert codes and codes <= grids, model.__tablename__

    def test_residents_live_in_their_households_grid_at_a_room_or_house(
            self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        homes = {hid: (region, address) for hid, region, address in
                 _rows(url, Household.id, Household.region_code, Household.address_id)}
        addresses = {aid: (region, kind) for aid, region, kind in
                     _rows(url, Address.id, Address.region_code, Address.kind)}
        for household_id, region in _rows(url, Resident.household_id, Resident.region_code):
            home_region, address_id = homes[household_id]
            assert home_region == region
            assert addresses[address_id] in ((region, "room"), (region, "house"))

    def test_addresses_are_normalised(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        for full, normalised in _rows(url, Address.text, Address.normalised):
            assert normalised == normalise_address(full)

    def test_an_address_is_found_however_its_prefix_is_typed(
            self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        room_id, full = _rows(url, Address.id, Address.text, where=Address.kind == "room")[0]
        # Full-width digits and spaces, as a Chinese input method types them.
        typed = " ".join(full[:-4].translate(str.maketrans("0123456789", "０１２３４５６７８９")))

        async def search() -> list[int]:
            engine = create_engine(url)
            try:
                async with create_sessionmaker(engine)() as session:
                    hits = await registry_reads.addresses(session, Subject.everything(), CITY,
                                                          typed, limit=1_000)
                    return [h.id for h in hits]
            finally:
                await engine.dispose()

        assert room_id in run_sync(search)


class TestGroupsAndPlaces:
    def test_tags_have_the_level_interval_and_the_grid_member(
            self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        rows = _rows(url, ResidentTag.category, ResidentTag.level,
                     ResidentTag.visit_interval_days, ResidentTag.responsible_post,
                     ResidentTag.region_code, ResidentTag.fields)
        assert {r[0] for r in rows} >= {"left_behind", "mental_disorder"}
        assert {r[0] for r in rows} <= set(TAG_CATEGORIES)
        for category, level, interval, post, region, fields in rows:
            assert TAG_LEVELS[category][level] == interval
            assert post == f"grid_member@{region}"
            assert isinstance(json.loads(fields), dict)

    def test_no_two_buildings_or_houses_share_an_address(self,
                                                         loaded: tuple[str, str]) -> None:
        url, _ = loaded
        rows = _rows(url, Address.normalised, Address.region_code,
                     where=Address.kind.in_(("building", "house")))
        assert len(rows) > 100
        assert len({r[0] for r in rows}) == len(rows)

    def test_places_use_the_23_categories(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        keys = {c.key for c in generate.PLACE_CATEGORIES}
        assert len(keys) == 23
        rows = _rows(url, Place.category, Place.inspection_interval_days)
        assert rows
        intervals = {c.key: c.inspection_days for c in generate.PLACE_CATEGORIES}
        for category, interval in rows:
            assert intervals[category] == interval


class TestForeignResidents:
    def test_their_share_is_the_documented_rate(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        foreign = _rows(url, func.count(), where=Resident.population_type == "foreign")[0][0]
        everyone = _rows(url, func.count(Resident.id))[0][0]
        assert foreign == round(generate.FOREIGN_PER_SCALE * SCALE) > 0
        assert 0.0002 <= foreign / everyone <= 0.0005

    def test_they_have_no_id_number_or_ethnicity_and_live_apart(
            self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        rows = _rows(url, Resident.household_id, Resident.id_number_enc,
                     Resident.id_number_hash, Resident.id_number_masked, Resident.ethnicity,
                     Resident.birth_date, where=Resident.population_type == "foreign")
        households = {h for h, *_ in rows}
        for _, enc, digest, masked, ethnicity, birth in rows:
            assert (enc, digest, masked, ethnicity) == (None, None, None, None)
            assert birth is not None
        kinds = _rows(url, Household.kind, where=Household.id.in_(households))
        assert {k for (k,) in kinds} == {"floating"}
        members = _rows(url, Resident.population_type,
                        where=Resident.household_id.in_(households))
        assert {p for (p,) in members} == {"foreign"} and len(members) == len(rows)


class TestEnterprises:
    def test_counts_follow_the_scale(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        kinds = Counter(kind for (kind,) in _rows(url, Enterprise.kind))
        expected = generate.ENTERPRISES_PER_SCALE * SCALE
        assert 0.75 * expected <= kinds["enterprise"] <= 1.25 * expected
        assert 1 <= kinds["social_org"] <= 4 * generate.SOCIAL_ORGS_PER_SCALE * SCALE

    def test_credit_codes_are_valid_unique_and_of_the_county(
            self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        rows = _rows(url, Enterprise.credit_code, Enterprise.kind, Enterprise.region_code,
                     Enterprise.name, Enterprise.legal_person, Enterprise.employees)
        assert rows
        for code, kind, region, name, legal_person, employees in rows:
            assert creditcode.parse(code) == code
            assert code[2:8] == region[:6]
            assert code[:2] in (("91", "93") if kind == "enterprise" else ("51", "52", "53"))
            assert name and legal_person and employees >= 1
        assert len({r[0] for r in rows}) == len(rows)


class TestCompounds:
    def test_rectified_ones_match_the_citys_figure(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        rows = _rows(url, Compound.status, Compound.checklist, Compound.rectified_at,
                     Compound.households)
        rectified = [r for r in rows if r[0] == "rectified"]
        assert len(rectified) == round(generate.COMPOUNDS_RECTIFIED_PER_SCALE * SCALE) > 0
        assert len(rows) == len(rectified) + round(generate.COMPOUNDS_OPEN_PER_SCALE * SCALE)
        for _, checklist, rectified_at, households in rectified:
            items = json.loads(checklist)
            assert [i["item"] for i in items] == list(generate.COMPOUND_CHECKLIST)
            assert all(i["done"] for i in items)
            assert rectified_at is not None and households > 0

    def test_they_are_in_urban_grids_only(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        codes = {c for (c,) in _rows(url, Compound.region_code)}
        urban = dict(_rows(url, Region.code, Region.urban, where=Region.code.in_(codes)))
        assert codes and all(urban[c] for c in codes)

    def test_open_ones_are_pending_or_part_done(self, loaded: tuple[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        url, _ = loaded
        monkeypatch.setattr(generate, "COMPOUNDS_OPEN_PER_SCALE", 200_000)
        data = _city_data(url)
        rows = [row for batch in generate.generate_batches(data, 0.0005, SEED, _cipher())
                for row in batch.compounds]
        statuses = {row[6] for row in rows}
        assert statuses == {"rectified", "rectifying", "pending"}
        assert sum(row[6] != "rectified" for row in rows) == 100
        for row in rows:
            done = [i["done"] for i in json.loads(row[5])]
            if row[6] == "pending":
                assert not any(done) and row[7] is None
            elif row[6] == "rectifying":
                assert any(done) and not all(done) and row[7] is None


class TestSpread:
    def test_exact_totals_and_nothing_for_a_zero_weight(self) -> None:
        weights = [0.0, 3.0, 0.0, 1.0, 0.5, 0.0]
        for total in (0, 1, 7, 1_000):
            out = generate._spread(weights, total, random.Random(total))
            assert sum(out) == total
            assert out[0] == out[2] == out[5] == 0
        assert generate._spread([0.0, 0.0], 5, random.Random(1)) == [0, 0]


class TestDeterminism:
    @staticmethod
    def _plain(url: str, seed: int) -> list[list[tuple[Any, ...]]]:
        """Generated rows without ciphertexts (fresh nonces) and timestamps."""
        data = _city_data(url)
        cipher = _cipher()
        out = []
        for batch in generate.generate_batches(data, 0.0005, seed, cipher):
            out.append([tuple(v for v in row if not (isinstance(v, str) and v.startswith("v1:"))
                              and not hasattr(v, "tzinfo"))
                        for table in (batch.addresses, batch.households, batch.residents,
                                      batch.tags, batch.places, batch.enterprises,
                                      batch.compounds) for row in table])
        return out

    def test_the_same_seed_gives_the_same_rows(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        first = self._plain(url, SEED)
        assert sum(len(b) for b in first) > 1_000
        assert first == self._plain(url, SEED)
        assert first != self._plain(url, SEED + 1)

    def test_enterprises_and_compounds_are_part_of_it(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        data = _city_data(url)
        batches = list(generate.generate_batches(data, 0.0005, SEED, _cipher()))
        assert sum(len(b.enterprises) for b in batches) > 0
        assert sum(len(b.compounds) for b in batches) == round(
            (generate.COMPOUNDS_RECTIFIED_PER_SCALE + generate.COMPOUNDS_OPEN_PER_SCALE) * 0.0005)
