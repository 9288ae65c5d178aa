"""Resident ID numbers (公民身份号码, GB 11643-1999): parse, check, build and mask.

An 18-character number is::

    AAAAAA YYYYMMDD SSS C
    address birth   seq check

* **Address code** (6 digits, GB/T 2260): checked *leniently*. Real people keep numbers whose
  county code was later retired (e.g. 410728 before 长垣 became 410783), so only the province
  prefix is checked; whether the full code still exists is the caller's business (pass
  ``known_address`` and read ``IdNumber.address_known``).
* **Birth date** (YYYYMMDD): checked *strictly* — a real calendar date, not after ``today``
  (Asia/Shanghai) and not before 1900-01-01.
* **Sequence** (3 digits): odd for men, even for women.
* **Check character** (ISO 7064 MOD 11-2): ``S = Σ dᵢ·wᵢ`` over the first 17 digits with weights
  ``7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2``; the check is ``"10X98765432"[S % 11]``. It catches
  every single-character error and every swap of two adjacent characters.

Accepted province prefixes (GB/T 2260 province-level codes, plus one used by ID numbers):

* 11–15 北京 天津 河北 山西 内蒙古
* 21–23 辽宁 吉林 黑龙江
* 31–37 上海 江苏 浙江 安徽 福建 江西 山东
* 41–46 河南 湖北 湖南 广东 广西 海南
* 50–54 重庆 四川 贵州 云南 西藏
* 61–65 陕西 甘肃 青海 宁夏 新疆
* 71 台湾, 81 香港, 82 澳门 (GB/T 2260)
* 83 — not a GB/T 2260 code: residence permits for Taiwan residents (台湾居民居住证, issued
  since 2018) carry address code 830000 (Hong Kong and Macao residents' permits use 810000
  and 820000).

No province prefix has been retired since GB/T 2260 began (Hainan 46 and Chongqing 50 were
added in 1988 and 1997), so the list only ever grows. Other leading digits are rejected — in
particular the 2023 foreign permanent resident ID (leading 9), which has a different layout.

Legacy 15-digit numbers (``AAAAAA YYMMDD SSS``, no check character, issued until 1999) are
upgraded: the year gets the century 19 and the check character is computed
(``IdNumber.legacy`` is True).

Input is NFKC-normalised first (full-width digits and X from Chinese input methods become
ASCII), all whitespace is dropped and a lowercase x is accepted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "PROVINCE_PREFIXES",
    "IdNumber",
    "InvalidIdNumber",
    "check_char",
    "make",
    "mask",
    "parse",
]

LOCAL = ZoneInfo("Asia/Shanghai")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)

PROVINCE_PREFIXES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82", "83"]
)

_DIGITS_17 = re.compile(r"[0-9]{17}")
_DIGITS = re.compile(r"[0-9]+")
_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15}")


class InvalidIdNumber(ValueError):
    """The text is not a valid resident ID number; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IdNumber:
    """A valid resident ID number (公民身份号码), split into its parts."""

    value: str
    """The normalised 18-character number (uppercase X)."""
    address_code: str
    birth: date
    sequence: str
    sex: Literal["male", "female"]
    legacy: bool = False
    """Given as an old 15-digit number and upgraded."""
    address_known: bool | None = None
    """What the caller's ``known_address`` said about the address code; None when not asked."""


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits of an ID number."""
    if not _DIGITS_17.fullmatch(first17):
        raise ValueError(f"need exactly 17 digits, got {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def parse(
    raw: str,
    *,
    today: date | None = None,
    known_address: Callable[[str], bool] | None = None,
) -> IdNumber:
    """Parses and validates an ID number (18 characters, or a legacy 15-digit number).

    ``today`` bounds the birth date (default: today in Asia/Shanghai). ``known_address``, when
    given, is asked whether the address code still exists; its answer only fills
    ``address_known`` and never rejects the number.
    """
    text = "".join(unicodedata.normalize("NFKC", raw).split()).upper()
    if not text:
        raise InvalidIdNumber("must not be empty")
    if len(text) == 15:
        if not _DIGITS.fullmatch(text):
            raise InvalidIdNumber("a legacy 15-digit number must be all digits")
        legacy = True
        address, birth_digits, sequence = text[:6], "19" + text[6:12], text[12:15]
    elif len(text) == 18:
        if not _DIGITS_17.fullmatch(text[:17]) or text[17] not in "0123456789X":
            raise InvalidIdNumber("must be digits with an optional final X")
        legacy = False
        address, birth_digits, sequence = text[:6], text[6:14], text[14:17]
    else:
        raise InvalidIdNumber("must be 18 characters (or a legacy 15-digit number)")

    if address[:2] not in PROVINCE_PREFIXES:
        raise InvalidIdNumber(f"no such province code {address[:2]}")
    birth = _birth_date(birth_digits, today if today is not None else _today())

    first17 = address + birth_digits + sequence
    expected = check_char(first17)
    if not legacy and text[17] != expected:
        raise InvalidIdNumber(f"bad check character: expected {expected}")

    return IdNumber(
        value=first17 + expected,
        address_code=address,
        birth=birth,
        sequence=sequence,
        sex="male" if int(sequence) % 2 else "female",
        legacy=legacy,
        address_known=None if known_address is None else bool(known_address(address)),
    )


def make(address_code: str, birth: date, sequence: int) -> str:
    """Builds a valid 18-character number (for synthetic populations); ``sequence`` is 0–999."""
    if not (len(address_code) == 6 and _DIGITS.fullmatch(address_code)):
        raise ValueError(f"address code must be 6 digits, got {address_code!r}")
    if address_code[:2] not in PROVINCE_PREFIXES:
        raise ValueError(f"no such province code {address_code[:2]}")
    if birth < EARLIEST_BIRTH:
        raise ValueError("birth date before 1900")
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be 0–999, got {sequence}")
    first17 = f"{address_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)


def mask(value: str) -> str:
    """Hides the middle of an ID number: ``4107**********123X`` (same length as ``value``).

    Anything not shaped like an ID number (18 characters or 15 digits) keeps only its last two
    characters; one of two characters or fewer is hidden entirely.
    """
    if _SHAPE.fullmatch(value):
        return value[:4] + "*" * (len(value) - 8) + value[-4:]
    if len(value) <= 2:
        return "*" * len(value)
    return "*" * (len(value) - 2) + value[-2:]


def _birth_date(digits: str, today: date) -> date:
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    if year < EARLIEST_BIRTH.year:
        raise InvalidIdNumber("birth date before 1900")
    try:
        birth = date(year, month, day)
    except ValueError:
        raise InvalidIdNumber(
            f"no such birth date {digits[:4]}-{digits[4:6]}-{digits[6:8]}"
        ) from None
    if birth > today:
        raise InvalidIdNumber("birth date lies in the future")
    return birth


def _today() -> date:
    return datetime.now(LOCAL).date()
