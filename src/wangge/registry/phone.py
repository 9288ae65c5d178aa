"""Mainland China phone numbers: normalise and mask.

* Mobile: 11 digits ``1[3-9]xxxxxxxxx``, stored as the bare 11 digits. A country prefix
  ``+86``, ``0086`` or ``86`` is dropped.
* Landline: area code with its trunk 0 plus a 7- or 8-digit local number, stored as
  ``0373-1234567``. The area code is 3 digits for 010 and 02x (Beijing and the big
  municipalities/cities: 020–029) and 4 digits for everything else (03xx–09xx; there is no
  011–019), so the split is taken from the digits, not from where the user typed the dash.
  After ``+86``/``0086`` the trunk 0 may be left out (``+86 373 1234567``).

Spaces, dashes and brackets are ignored; full-width characters are NFKC-normalised first.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["InvalidPhone", "mask_phone", "parse_phone"]

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# 010 and 020–029 are 3-digit area codes; all others (0300–0999) 4 digits; 011–019 do not exist.
_LANDLINE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})[0-9]{7,8}")
_SEPARATORS = re.compile(r"[\s\-()]")


class InvalidPhone(ValueError):
    """The text is not a mainland phone number; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_phone(raw: str) -> str:
    """Normalises a mainland mobile (``13812341234``) or landline (``0373-1234567``) number."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if not text:
        raise InvalidPhone("must not be empty")

    international = False
    if text.startswith("+86"):
        text, international = text[3:], True
    elif text.startswith("0086"):
        text, international = text[4:], True
    elif text.startswith("86") and _MOBILE.fullmatch(text[2:]):
        text = text[2:]
    if not text.isascii() or not text.isdigit():
        raise InvalidPhone("may contain only digits, spaces, dashes, brackets and a leading +86")

    if _MOBILE.fullmatch(text):
        return text
    if international and (text[:1] in "23456789" or text.startswith("10")):
        text = "0" + text  # the trunk 0 is dropped after +86 (Beijing: +86 10 ...)
    if text.startswith("1"):
        if len(text) != 11:
            raise InvalidPhone("a mobile number must be 11 digits")
        raise InvalidPhone("a mobile number starts with 13 to 19")
    if text.startswith("0"):
        if _LANDLINE.fullmatch(text):
            area_len = 3 if text[1] in "12" else 4
            return f"{text[:area_len]}-{text[area_len:]}"
        raise InvalidPhone("a landline needs its area code and a 7- or 8-digit number")
    raise InvalidPhone("must be a mobile number or a landline with its area code")


def mask_phone(value: str) -> str:
    """Hides the middle: ``138****1234`` for mobiles, ``0373-****567`` for landlines.

    Text that is not a valid number keeps only its last two characters.
    """
    try:
        phone = parse_phone(value)
    except InvalidPhone:
        if len(value) <= 2:
            return "*" * len(value)
        return "*" * (len(value) - 2) + value[-2:]
    if "-" in phone:
        area, local = phone.split("-")
        return f"{area}-{'*' * (len(local) - 3)}{local[-3:]}"
    return f"{phone[:3]}****{phone[-4:]}"
