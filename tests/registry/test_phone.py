from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wangge.registry.phone import InvalidPhone, mask_phone, parse_phone


def reason(raw: str) -> str:
    with pytest.raises(InvalidPhone) as caught:
        parse_phone(raw)
    return caught.value.reason


class TestMobile:
    @pytest.mark.parametrize(
        "raw",
        [
            "13812341234",
            "138 1234 1234",
            "138-1234-1234",
            "+86 138 1234 1234",
            "+8613812341234",
            "8613812341234",
            "0086 13812341234",
            "(+86) 138-1234-1234",
            "１３８１２３４１２３４",
        ],
    )
    def test_variants(self, raw: str) -> None:
        assert parse_phone(raw) == "13812341234"

    @pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
    def test_all_mobile_prefixes(self, prefix: str) -> None:
        assert parse_phone(prefix + "012345678") == prefix + "012345678"

    @pytest.mark.parametrize("raw", ["1381234123", "138123412345"])
    def test_wrong_length(self, raw: str) -> None:
        assert reason(raw) == "a mobile number must be 11 digits"

    @pytest.mark.parametrize("raw", ["12812341234", "11012341234", "10012341234"])
    def test_bad_second_digit(self, raw: str) -> None:
        assert reason(raw) == "a mobile number starts with 13 to 19"


class TestLandline:
    @pytest.mark.parametrize(
        ("raw", "normalised"),
        [
            ("0373-1234567", "0373-1234567"),
            ("03731234567", "0373-1234567"),
            ("0373 123 4567", "0373-1234567"),
            ("(0373) 1234567", "0373-1234567"),
            ("037-31234567", "0373-1234567"),
            ("0755-12345678", "0755-12345678"),
            ("010-12345678", "010-12345678"),
            ("01012345678", "010-12345678"),
            ("021 1234 5678", "021-12345678"),
            ("020-1234567", "020-1234567"),
            ("+86 373 1234567", "0373-1234567"),
            ("+86 10 12345678", "010-12345678"),
            ("+86 0373 1234567", "0373-1234567"),
        ],
    )
    def test_variants(self, raw: str, normalised: str) -> None:
        assert parse_phone(raw) == normalised

    @pytest.mark.parametrize(
        "raw",
        ["0373-123456", "0373-123456789", "010-123456", "0373", "00373-1234567", "0113-1234567"],
    )
    def test_bad_length_or_area(self, raw: str) -> None:
        assert reason(raw) == "a landline needs its area code and a 7- or 8-digit number"

    def test_plus86_with_a_short_mobile_stays_a_mobile_error(self) -> None:
        assert reason("+86 1381234123") == "a mobile number must be 11 digits"

    def test_missing_area_code(self) -> None:
        assert reason("1234567") == "a mobile number must be 11 digits"
        assert reason("51234567") == "must be a mobile number or a landline with its area code"


class TestRejections:
    @pytest.mark.parametrize("raw", ["", "  ", "--"])
    def test_empty(self, raw: str) -> None:
        assert reason(raw) == "must not be empty"

    @pytest.mark.parametrize("raw", ["138abcd1234", "138.1234.1234", "+1 415 555 0100", "ext 12"])
    def test_bad_characters(self, raw: str) -> None:
        assert reason(raw) == (
            "may contain only digits, spaces, dashes, brackets and a leading +86"
        )

    def test_is_a_value_error(self) -> None:
        with pytest.raises(ValueError):
            parse_phone("x")


class TestMask:
    @pytest.mark.parametrize(
        ("raw", "masked"),
        [
            ("13812341234", "138****1234"),
            ("+86 138 1234 1234", "138****1234"),
            ("0373-1234567", "0373-****567"),
            ("0755-12345678", "0755-*****678"),
            ("010-12345678", "010-*****678"),
            ("12345", "***45"),
            ("1", "*"),
        ],
    )
    def test_shapes(self, raw: str, masked: str) -> None:
        assert mask_phone(raw) == masked


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


class TestProperties:
    @given(number=mobiles, style=st.sampled_from(["{}", "+86 {}", "86{}", "0086-{}"]))
    def test_mobile_forms_normalise_to_the_digits(self, number: str, style: str) -> None:
        assert parse_phone(style.format(number)) == number

    @given(number=mobiles)
    def test_mobile_mask_hides_four_digits(self, number: str) -> None:
        masked = mask_phone(number)
        assert masked == number[:3] + "****" + number[-4:]

    @given(
        area=st.one_of(
            st.just("010"),
            st.from_regex(r"02[0-9]", fullmatch=True),
            st.from_regex(r"0[3-9][0-9]{2}", fullmatch=True),
        ),
        local=st.from_regex(r"[2-9][0-9]{6,7}", fullmatch=True),
    )
    def test_landline_is_idempotent(self, area: str, local: str) -> None:
        normalised = parse_phone(area + local)
        assert normalised == f"{area}-{local}"
        assert parse_phone(normalised) == normalised
