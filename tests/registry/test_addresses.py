"""The one address normaliser (stored ``Address.normalised`` and the page search's query)."""

from __future__ import annotations

import pytest

from wangge.registry.addresses import normalise_address


class TestNormaliseAddress:
    @pytest.mark.parametrize(("typed", "folded"), [
        ("幸福小区3号楼2单元301室", "幸福小区3号楼2单元301室"),
        ("幸福小区 3号楼 2单元", "幸福小区3号楼2单元"),
        ("幸福小区３号楼２单元３０１室", "幸福小区3号楼2单元301室"),  # full-width digits
        ("幸福小区\u30003号楼\t2单元\n", "幸福小区3号楼2单元"),  # ideographic space, tab
        ("幸福小区3号楼-2单元—301室", "幸福小区3号楼2单元301室"),
        ("人民路12号（东院）", "人民路12号东院"),
        ("人民路12号(东院)，A座。", "人民路12号东院a座"),
        ("人民路#12_号", "人民路12号"),
        ("Ａ座Ｂ区", "a座b区"),  # full-width letters, lowercased
    ])
    def test_folds(self, typed: str, folded: str) -> None:
        assert normalise_address(typed) == folded

    def test_a_typed_prefix_stays_a_prefix_of_the_stored_text(self) -> None:
        stored = normalise_address("红旗区东街街道东街社区3号楼2单元301室")
        assert stored.startswith(normalise_address("红旗区东街街道 东街社区 ３号楼"))

    def test_folded_text_folds_to_itself(self) -> None:
        once = normalise_address("新乡市 红旗区（东街）３号楼-2单元 301室")
        assert normalise_address(once) == once == "新乡市红旗区东街3号楼2单元301室"
