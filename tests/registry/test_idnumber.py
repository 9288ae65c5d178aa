from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wangge.registry.idnumber import (
    PROVINCE_PREFIXES,
    IdNumber,
    InvalidIdNumber,
    check_char,
    make,
    mask,
    parse,
)

TODAY = date(2025, 6, 1)
DOMAIN_EXAMPLE = "11010519491231002X"


def with_check(first17: str) -> str:
    return first17 + check_char(first17)


def reason(raw: str) -> str:
    with pytest.raises(InvalidIdNumber) as caught:
        parse(raw, today=TODAY)
    return caught.value.reason


class TestValid:
    def test_domain_example(self) -> None:
        parsed = parse(DOMAIN_EXAMPLE, today=TODAY)
        assert parsed == IdNumber(
            value=DOMAIN_EXAMPLE,
            address_code="110105",
            birth=date(1949, 12, 31),
            sequence="002",
            sex="female",
            legacy=False,
            address_known=None,
        )

    def test_default_today_accepts_the_domain_example(self) -> None:
        assert parse(DOMAIN_EXAMPLE).birth == date(1949, 12, 31)

    def test_xinxiang_code_male(self) -> None:
        parsed = parse("410702199003071233", today=TODAY)
        assert (parsed.address_code, parsed.birth, parsed.sequence, parsed.sex) == (
            "410702",
            date(1990, 3, 7),
            "123",
            "male",
        )

    def test_lowercase_x_and_spaces_are_normalised(self) -> None:
        assert parse(" 410702 19900307 010x ", today=TODAY).value == "41070219900307010X"

    def test_full_width_input_is_normalised(self) -> None:
        assert (
            parse("４１０７０２１９９００３０７０１０Ｘ", today=TODAY).value == "41070219900307010X"
        )

    def test_feb_29_of_a_leap_year(self) -> None:
        assert parse("410783200002290040", today=TODAY).birth == date(2000, 2, 29)

    def test_born_today(self) -> None:
        number = make("410702", TODAY, 1)
        assert parse(number, today=TODAY).birth == TODAY

    def test_born_on_1900_01_01(self) -> None:
        number = make("410702", date(1900, 1, 1), 1)
        assert parse(number, today=TODAY).birth == date(1900, 1, 1)

    def test_taiwan_resident_permit_prefix_83(self) -> None:
        assert parse(make("830000", date(1980, 5, 5), 11), today=TODAY).address_code == "830000"


class TestAddressCode:
    def test_retired_code_accepted_and_flagged_unknown(self) -> None:
        # 410728 (长垣县) became 410783 (长垣市) in 2019; old numbers keep the old code.
        asked: list[str] = []

        def known(code: str) -> bool:
            asked.append(code)
            return code != "410728"

        parsed = parse("410728198506150012", today=TODAY, known_address=known)
        assert parsed.address_known is False
        assert asked == ["410728"]

    def test_current_code_flagged_known(self) -> None:
        parsed = parse("410702199003071233", today=TODAY, known_address=lambda _: True)
        assert parsed.address_known is True

    def test_not_asked_leaves_none(self) -> None:
        assert parse("410728198506150012", today=TODAY).address_known is None

    @pytest.mark.parametrize("prefix", ["00", "10", "16", "20", "39", "47", "55", "66", "72", "90"])
    def test_unknown_province_rejected(self, prefix: str) -> None:
        assert reason(with_check(prefix + "070219900307123")) == f"no such province code {prefix}"

    def test_province_list(self) -> None:
        assert len(PROVINCE_PREFIXES) == 35
        assert {"11", "15", "46", "50", "54", "65", "71", "81", "82", "83"} <= PROVINCE_PREFIXES


class TestCheckChar:
    def test_bad_check_char_names_the_expected_one(self) -> None:
        assert reason("410702199003071234") == "bad check character: expected 3"

    def test_bad_check_char_expected_x(self) -> None:
        assert reason("110105194912310021") == "bad check character: expected X"

    def test_check_char_requires_17_digits(self) -> None:
        with pytest.raises(ValueError, match="17 digits"):
            check_char("1101051949123100")


class TestBirthDate:
    def test_feb_30(self) -> None:
        assert reason(with_check("41072119900230001")) == "no such birth date 1990-02-30"

    def test_feb_29_of_a_common_year(self) -> None:
        assert reason(with_check("41072119990229001")) == "no such birth date 1999-02-29"

    def test_month_13(self) -> None:
        assert reason(with_check("41072119901301001")) == "no such birth date 1990-13-01"

    def test_day_00(self) -> None:
        assert reason(with_check("41072119900100001")) == "no such birth date 1990-01-00"

    def test_future(self) -> None:
        assert reason(with_check("41072120250602001")) == "birth date lies in the future"

    def test_before_1900(self) -> None:
        assert reason(with_check("41072118991231001")) == "birth date before 1900"


class TestShape:
    @pytest.mark.parametrize("raw", ["", "   "])
    def test_empty(self, raw: str) -> None:
        assert reason(raw) == "must not be empty"

    @pytest.mark.parametrize(
        "raw", ["4107021990030712", "4107021990030712333", "41070219900307", "1"]
    )
    def test_wrong_length(self, raw: str) -> None:
        assert reason(raw) == "must be 18 characters (or a legacy 15-digit number)"

    @pytest.mark.parametrize(
        "raw",
        ["41070219900307A233", "4107021990030712XX", "41070219900307123Y", "X10702199003071233"],
    )
    def test_letters(self, raw: str) -> None:
        assert reason(raw) == "must be digits with an optional final X"

    def test_legacy_with_letters(self) -> None:
        assert reason("41070290030712X") == "a legacy 15-digit number must be all digits"


class TestLegacy:
    def test_upgrade(self) -> None:
        parsed = parse("410702900307123", today=TODAY)
        assert parsed.value == "410702199003071233"
        assert parsed.legacy is True
        assert (parsed.birth, parsed.sex) == (date(1990, 3, 7), "male")

    def test_round_trip(self) -> None:
        old = parse("410702900307123", today=TODAY)
        new = parse(old.value, today=TODAY)
        assert new.legacy is False
        assert new == replace(old, legacy=False)

    def test_legacy_bad_date(self) -> None:
        assert reason("410702900230123") == "no such birth date 1990-02-30"


class TestMake:
    def test_example(self) -> None:
        assert make("110105", date(1949, 12, 31), 2) == DOMAIN_EXAMPLE

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("41070", date(1990, 1, 1), 1), "6 digits"),
            (("41070a", date(1990, 1, 1), 1), "6 digits"),
            (("990702", date(1990, 1, 1), 1), "province"),
            (("410702", date(1899, 12, 31), 1), "1900"),
            (("410702", date(1990, 1, 1), 1000), "0–999"),
            (("410702", date(1990, 1, 1), -1), "0–999"),
        ],
    )
    def test_rejects_bad_parts(self, args: tuple[str, date, int], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            make(*args)


class TestMask:
    def test_eighteen(self) -> None:
        assert mask("41070219900307123X") == "4107**********123X"

    def test_fifteen(self) -> None:
        assert mask("410702900307123") == "4107*******7123"

    def test_keeps_length(self) -> None:
        assert len(mask(DOMAIN_EXAMPLE)) == len(DOMAIN_EXAMPLE)

    @pytest.mark.parametrize(
        ("raw", "masked"),
        [
            ("4107021990", "********90"),
            ("41070219900307123Q", "****************3Q"),
            ("ab", "**"),
            ("", ""),
        ],
    )
    def test_unparseable_keeps_only_last_two(self, raw: str, masked: str) -> None:
        assert mask(raw) == masked


addresses = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(sorted(PROVINCE_PREFIXES)),
    st.text("0123456789", min_size=4, max_size=4),
)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)
valid_numbers = st.builds(make, addresses, births, sequences)


class TestProperties:
    @given(address=addresses, birth=births, sequence=sequences)
    def test_make_parses_back(self, address: str, birth: date, sequence: int) -> None:
        parsed = parse(make(address, birth, sequence), today=TODAY)
        assert (parsed.address_code, parsed.birth, int(parsed.sequence)) == (
            address,
            birth,
            sequence,
        )
        assert parsed.sex == ("male" if sequence % 2 else "female")
        assert parsed.legacy is False

    @given(number=valid_numbers, data=st.data())
    def test_any_single_character_change_is_rejected(
        self, number: str, data: st.DataObject
    ) -> None:
        position = data.draw(st.integers(min_value=0, max_value=17))
        alphabet = "0123456789X" if position == 17 else "0123456789"
        replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != number[position]))
        changed = number[:position] + replacement + number[position + 1 :]
        assert check_char(changed[:17]) != changed[17]
        with pytest.raises(InvalidIdNumber):
            parse(changed, today=TODAY)

    @given(number=valid_numbers, position=st.integers(min_value=0, max_value=16))
    def test_any_adjacent_swap_is_rejected(self, number: str, position: int) -> None:
        a, b = number[position], number[position + 1]
        if a == b:
            return
        swapped = number[:position] + b + a + number[position + 2 :]
        with pytest.raises(InvalidIdNumber):
            parse(swapped, today=TODAY)

    @given(number=valid_numbers)
    def test_mask_shape(self, number: str) -> None:
        masked = mask(number)
        assert masked[:4] == number[:4] and masked[-4:] == number[-4:]
        assert masked[4:-4] == "*" * 10
