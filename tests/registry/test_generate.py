"""`wangge registry generate`: a small synthetic population on a copy of the demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.cases.actors import writable_demo
from typer.testing import CliRunner

from wangge.cli import app as cli
from wangge.config import get_settings
from wangge.kit.cli import run_sync
from wangge.kit.crypto import PiiCipher, cipher_for
from wangge.kit.db import create_engine
from wangge.kit.errors import InvalidInput
from wangge.models import Address, Household, Place, Region, Resident, ResidentTag
from wangge.registry import generate, idnumber, phone

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
            for m in (Address, Household, Resident, ResidentTag, Place)}


class TestCommand:
    def test_it_reports_what_it_wrote(self, loaded: tuple[str, str]) -> None:
        url, output = loaded
        counts = _counts(url)
        assert counts["residents"] > 10_000 and counts["households"] > 3_000
        assert f"{counts['residents']:,} residents in {counts['households']:,} households" \
            in " ".join(output.split())

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
        assert len(numbers) == len(rows)

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
        for model in (Address, Household, Resident, ResidentTag, Place):
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
            assert normalised == generate.normalise_address(full)


class TestGroupsAndPlaces:
    def test_tags_have_the_level_interval_and_the_grid_member(
            self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        rows = _rows(url, ResidentTag.category, ResidentTag.level,
                     ResidentTag.visit_interval_days, ResidentTag.responsible_post,
                     ResidentTag.region_code, ResidentTag.fields)
        assert {r[0] for r in rows} >= {"left_behind", "mental_disorder"}
        for category, level, interval, post, region, fields in rows:
            levels = {name: days for name, _, days in generate.SPECIAL_GROUPS[category].levels}
            assert levels[level] == interval
            assert post == f"grid_member@{region}"
            assert isinstance(json.loads(fields), dict)

    def test_places_use_the_23_categories(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        keys = {c.key for c in generate.PLACE_CATEGORIES}
        assert len(keys) == 23
        rows = _rows(url, Place.category, Place.inspection_interval_days)
        assert rows
        intervals = {c.key: c.inspection_days for c in generate.PLACE_CATEGORIES}
        for category, interval in rows:
            assert intervals[category] == interval


class TestDeterminism:
    @staticmethod
    def _plain(url: str, seed: int) -> list[list[tuple[Any, ...]]]:
        """Generated rows without ciphertexts (fresh nonces) and timestamps."""

        async def read() -> generate.CityData:
            engine = create_engine(url)
            try:
                async with engine.connect() as conn:
                    return await generate.read_city(conn, CITY)
            finally:
                await engine.dispose()

        data = run_sync(read)
        cipher = _cipher()
        out = []
        for batch in generate.generate_batches(data, 0.0005, seed, cipher):
            out.append([tuple(v for v in row if not (isinstance(v, str) and v.startswith("v1:"))
                              and not hasattr(v, "tzinfo"))
                        for table in (batch.addresses, batch.households, batch.residents,
                                      batch.tags, batch.places) for row in table])
        return out

    def test_the_same_seed_gives_the_same_rows(self, loaded: tuple[str, str]) -> None:
        url, _ = loaded
        first = self._plain(url, SEED)
        assert sum(len(b) for b in first) > 1_000
        assert first == self._plain(url, SEED)
        assert first != self._plain(url, SEED + 1)
