"""Unified social credit codes (GB 32100-2015): check character, parsing, building."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wangge.registry.creditcode import (
    ALPHABET,
    COOPERATIVE,
    ENTERPRISE,
    FOUNDATION,
    SOCIAL_GROUP,
    InvalidCreditCode,
    check_char,
    make,
    organisation_code,
    parse,
)

# Codes printed on business licences (large public companies) and the standard's example.
PUBLISHED = ("914403001922038216", "91440300708461136T", "91350100M000100Y43")


def reason(raw: str) -> str:
    with pytest.raises(InvalidCreditCode) as caught:
        parse(raw)
    return caught.value.reason


class TestCheckCharacter:
    @pytest.mark.parametrize("code", PUBLISHED)
    def test_published_codes_carry_it(self, code: str) -> None:
        assert check_char(code[:17]) == code[17]

    def test_a_sum_divisible_by_31_gives_0(self) -> None:
        assert check_char("0" * 17) == "0"

    def test_every_single_character_change_is_caught(self) -> None:
        code = PUBLISHED[0]
        for i in range(17):
            for c in ALPHABET:
                if c != code[i]:
                    changed = code[:i] + c + code[i + 1 :]
                    assert check_char(changed[:17]) != code[17], changed

    def test_it_refuses_letters_outside_the_alphabet(self) -> None:
        with pytest.raises(ValueError):
            check_char("91410702" + "I" * 9)


class TestParse:
    @pytest.mark.parametrize("code", PUBLISHED)
    def test_published_codes_are_valid(self, code: str) -> None:
        assert parse(code) == code

    def test_lowercase_spaces_hyphens_and_full_width_are_normalised(self) -> None:
        assert parse(" 9144 0300-7084 6113 6t ") == "91440300708461136T"
        assert parse("９１４４０３００７０８４６１１３６Ｔ") == "91440300708461136T"

    def test_a_wrong_check_character_names_the_expected_one(self) -> None:
        assert reason("914403001922038217") == "bad check character: expected 6"

    def test_length(self) -> None:
        assert reason("91440300708461136") == "must be 18 characters, got 17"
        assert reason("") == "must not be empty"

    def test_letters_the_standard_leaves_out(self) -> None:
        assert reason("91440300708461136O") == (
            "O not allowed (digits and capital letters without I, O, S, V, Z)")

    def test_the_region_must_be_digits(self) -> None:
        first17 = "9144A300708461136"
        assert reason(first17 + check_char(first17)) == (
            "characters 3–8 must be the 6-digit region code")


class TestMake:
    def test_parts_are_where_the_standard_puts_them(self) -> None:
        code = make(ENTERPRISE, "410702", organisation_code("37275230"))
        assert parse(code) == code
        assert (code[:2], code[2:8], code[8:17]) == ("91", "410702", "37275230X")

    @given(kind=st.sampled_from((ENTERPRISE, COOPERATIVE, SOCIAL_GROUP, FOUNDATION)),
           region=st.from_regex(r"[1-6][0-9]{5}", fullmatch=True),
           body=st.from_regex(r"[0-9]{8}", fullmatch=True))
    def test_every_code_it_makes_parses(self, kind: str, region: str, body: str) -> None:
        code = make(kind, region, organisation_code(body))
        assert parse(code) == code

    def test_bad_parts_are_refused(self) -> None:
        with pytest.raises(ValueError):
            make("X1", "410702", "123456789")
        with pytest.raises(ValueError):
            make(ENTERPRISE, "41070", "123456789")
        with pytest.raises(ValueError):
            make(ENTERPRISE, "410702", "12345678I")


class TestOrganisationCode:
    @pytest.mark.parametrize("body", ["19220382", "70846113"])
    def test_the_gb_11714_check_of_published_codes(self, body: str) -> None:
        subjects = {code[8:16]: code[8:17] for code in PUBLISHED}
        assert organisation_code(body) == subjects[body]

    def test_ten_becomes_x_and_eleven_zero(self) -> None:
        assert organisation_code("37275230")[-1] == "X"
        assert organisation_code("00000000")[-1] == "0"
