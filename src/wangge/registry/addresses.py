"""Address text folded for matching: the one normaliser behind ``Address.normalised`` and the
address search of the registry pages.

NFKC first (full-width digits, letters and brackets from Chinese input methods become ASCII),
then whitespace and the separators people type between the parts of an address are dropped
(``-—_,，.。()（）#``), then lowercase. "幸福小区 3号楼-2单元" and
"幸福小区3号楼2单元" fold to the same text, so a prefix of one matches the other. Characters
that carry meaning (号, 楼, 单元, 室, digits, letters) are kept.
"""

from __future__ import annotations

import unicodedata

__all__ = ["normalise_address"]

# Applied after NFKC, which already turns the full-width forms (，（）＃－) into ASCII; "。" and
# "—" have no ASCII form and are listed as they are.
_DROPPED = str.maketrans("", "", "-—_,，.。()（）#")


def normalise_address(value: str) -> str:
    """Address text folded for matching: NFKC, no whitespace or separators, lowercase."""
    return "".join(unicodedata.normalize("NFKC", value).split()).translate(_DROPPED).lower()
