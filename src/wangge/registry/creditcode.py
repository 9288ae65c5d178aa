"""Unified social credit codes (统一社会信用代码, GB 32100-2015): parse, check and build.

A code is 18 characters from the 31-character alphabet ``0-9`` and ``A-Y`` without I, O, S,
V and Z::

    A C RRRRRR SSSSSSSSS K
    | | |      |         check character
    | | |      subject identifier (主体标识码: the organisation code of GB 11714)
    | | region code of the registering authority (GB/T 2260, 6 digits)
    | category of the organisation within that authority (机构类别)
    registration authority (登记管理部门): 1 机构编制, 5 民政, 9 工商/市场监管, Y other, ...

* **Check character** (GB/T 17710, MOD 31): each of the first 17 characters counts as its
  index in the alphabet; with weights ``3^i mod 31`` (1 3 9 27 19 26 16 17 20 29 25 13 8 24
  10 30 28) the check is the character at ``31 - S % 31`` (31 becomes 0).
* **Region code**: six digits; only the shape is checked (codes keep the region they were
  issued in even after it was renamed or merged).
* **Subject identifier**: GB 11714 organisation codes carry their own check character
  (weights 3 7 9 10 5 8 4 2, MOD 11); ``organisation_code`` builds one. ``parse`` does not
  insist on it: the 18th character already covers the whole code.

Input is NFKC-normalised first (full-width characters from Chinese input methods become
ASCII), whitespace and hyphens are dropped and lowercase letters are accepted.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ALPHABET",
    "AUTHORITIES",
    "InvalidCreditCode",
    "check_char",
    "make",
    "organisation_code",
    "parse",
]

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {c: i for i, c in enumerate(ALPHABET)}

# Registration authorities of GB 32100-2015 and the categories used by the registry.
AUTHORITIES: dict[str, str] = {
    "1": "机构编制", "2": "外交", "3": "司法行政", "4": "文化", "5": "民政", "6": "旅游",
    "7": "宗教", "8": "工会", "9": "工商", "A": "中央军委改革和编制办公室", "N": "农业",
    "Y": "其他",
}
ENTERPRISE = "91"  # 工商: 企业
SOLE_TRADER = "92"  # 工商: 个体工商户
COOPERATIVE = "93"  # 工商: 农民专业合作社
SOCIAL_GROUP = "51"  # 民政: 社会团体
PRIVATE_NON_ENTERPRISE = "52"  # 民政: 民办非企业单位
FOUNDATION = "53"  # 民政: 基金会

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY = re.compile(r"[0-9A-Z]{8}")
_REGION = re.compile(r"[0-9]{6}")
_DROP = str.maketrans("", "", "-—")


class InvalidCreditCode(ValueError):
    """The text is not a valid unified social credit code; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_char(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(first17) != 17 or any(c not in _VALUE for c in first17):
        raise ValueError(f"need 17 characters of {ALPHABET}, got {first17!r}")
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def parse(raw: str) -> str:
    """The normalised code (uppercase, 18 characters) if ``raw`` is a valid credit code."""
    text = "".join(unicodedata.normalize("NFKC", raw).split()).translate(_DROP).upper()
    if not text:
        raise InvalidCreditCode("must not be empty")
    if len(text) != 18:
        raise InvalidCreditCode(f"must be 18 characters, got {len(text)}")
    wrong = sorted({c for c in text if c not in _VALUE})
    if wrong:
        raise InvalidCreditCode(
            f"{''.join(wrong)} not allowed (digits and capital letters without I, O, S, V, Z)")
    if not _REGION.fullmatch(text[2:8]):
        raise InvalidCreditCode("characters 3–8 must be the 6-digit region code")
    expected = check_char(text[:17])
    if text[17] != expected:
        raise InvalidCreditCode(f"bad check character: expected {expected}")
    return text


def organisation_code(body: str) -> str:
    """A GB 11714 organisation code: the 8-character ``body`` and its check character."""
    if not _ORG_BODY.fullmatch(body):
        raise ValueError(f"need 8 digits or capital letters, got {body!r}")
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def make(kind: str, region: str, subject: str) -> str:
    """A valid code from the authority and category (``kind``, e.g. ``ENTERPRISE``), the
    6-digit region code and the 9-character subject identifier."""
    if len(kind) != 2 or kind[0] not in AUTHORITIES or kind[1] not in _VALUE:
        raise ValueError(f"not an authority and category: {kind!r}")
    if not _REGION.fullmatch(region):
        raise ValueError(f"region code must be 6 digits, got {region!r}")
    if len(subject) != 9 or any(c not in _VALUE for c in subject):
        raise ValueError(f"subject identifier must be 9 characters of {ALPHABET}")
    first17 = kind + region + subject
    return first17 + check_char(first17)
