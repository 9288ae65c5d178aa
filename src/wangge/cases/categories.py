"""The default case category tree, seeded by migration 0005 (``wangge db upgrade``);
administrators edit it afterwards through the API (``PUT /api/v1/case-categories/{code}``).

Codes: two digits for a top category, four for a child. Limits follow the spirit of CJ/T
315-2009 (registration, dispatch, handling and verification limits per category): urgent kinds
(criminal clues, epidemic, flood) count minutes and hours, ordinary ones working days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ORDINARY = {"accept": "2h", "dispatch": "4h", "handle": "3wd", "verify": "1wd"}
URGENT = {"accept": "30m", "dispatch": "1h", "handle": "1d", "verify": "1d"}
CRIMINAL = {"accept": "30m", "dispatch": "1h", "handle": "5wd", "verify": "2wd"}
DISPUTE = {"accept": "2h", "dispatch": "4h", "handle": "5wd", "verify": "2wd"}

# Extra fields of a dispute record (GB/T 31000-2015, dispute screening and resolution).
DISPUTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "people_count": {"type": "integer", "minimum": 1, "title": "涉及人数"},
        "scale": {"enum": ["general", "large", "major"], "title": "规模"},
        "occurred_on": {"type": "string", "format": "date", "title": "发生日期"},
        "mediation_method": {
            "enum": ["people", "administrative", "judicial", "on_site", "other"],
            "title": "化解方式"},
        "mediation_organisation": {"type": "string", "maxLength": 100, "title": "调解组织"},
        "person_in_charge": {"type": "string", "maxLength": 50, "title": "负责人"},
        "resolve_by": {"type": "string", "format": "date", "title": "化解期限"},
        "success": {"type": "boolean", "title": "是否成功"},
        "outcome": {"type": "string", "maxLength": 2000, "title": "化解结果"},
        "reviewed_on": {"type": "string", "format": "date", "title": "回访日期"},
        "review_opinion": {"type": "string", "maxLength": 500, "title": "回访意见"},
    },
}
HAZARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "risk_level": {"enum": ["low", "medium", "high"], "title": "风险等级"},
        "place": {"type": "string", "maxLength": 100, "title": "场所"},
        "people_at_risk": {"type": "integer", "minimum": 0, "title": "受影响人数"},
    },
}
CLUE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "clue_kind": {"enum": ["explosives", "fraud", "drugs", "theft", "gambling", "other"],
                      "title": "线索类型"},
        "source": {"type": "string", "maxLength": 100, "title": "线索来源"},
        "urgency": {"enum": ["normal", "urgent"], "title": "紧急程度"},
    },
}
OPEN_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False,
                               "properties": {}}


@dataclass(frozen=True)
class CategorySeed:
    code: str
    name: str
    name_en: str
    handling_level: str
    department_kind: str | None = None
    police_only: bool = False
    limits: dict[str, str] = field(default_factory=lambda: dict(ORDINARY))
    fields_schema: dict[str, Any] = field(default_factory=lambda: dict(OPEN_SCHEMA))

    @property
    def parent_code(self) -> str | None:
        return self.code[:2] if len(self.code) > 2 else None


# The 15 dispute categories as counted in mediation statistics (DOMAIN.md).
_DISPUTES = (
    ("01", "婚姻家庭纠纷", "Marriage and family"),
    ("02", "邻里纠纷", "Neighbours"),
    ("03", "房屋宅基地纠纷", "Housing and homestead"),
    ("04", "合同纠纷", "Contracts"),
    ("05", "生产经营纠纷", "Production and business"),
    ("06", "损害赔偿纠纷", "Damages"),
    ("07", "山林土地纠纷", "Land and forest"),
    ("08", "征地拆迁纠纷", "Land expropriation and demolition"),
    ("09", "环境污染纠纷", "Environmental pollution"),
    ("10", "劳动争议纠纷", "Labour (incl. unpaid wages)"),
    ("11", "消费纠纷", "Consumer"),
    ("12", "医疗纠纷", "Medical"),
    ("13", "道路交通事故纠纷", "Road accidents"),
    ("14", "物业纠纷", "Property management"),
    ("15", "其他纠纷", "Other disputes"),
)

DEFAULT_CATEGORIES: tuple[CategorySeed, ...] = (
    CategorySeed("01", "矛盾纠纷", "Disputes", "village", limits=dict(DISPUTE),
                 fields_schema=DISPUTE_SCHEMA),
    *(CategorySeed(f"01{c}", zh, en, "village", limits=dict(DISPUTE),
                   fields_schema=DISPUTE_SCHEMA) for c, zh, en in _DISPUTES),
    CategorySeed("02", "治安隐患", "Public-order hazards", "township", "police_station",
                 fields_schema=HAZARD_SCHEMA),
    CategorySeed("03", "安全隐患", "Safety hazards", "township", "department",
                 fields_schema=HAZARD_SCHEMA),
    CategorySeed("0301", "安全生产隐患", "Production safety", "township", "department",
                 fields_schema=HAZARD_SCHEMA),
    CategorySeed("0302", "消防隐患", "Fire safety", "township", "department",
                 fields_schema=HAZARD_SCHEMA),
    CategorySeed("04", "信访线索", "Petition leads", "township"),
    CategorySeed("05", "涉案线索", "Criminal clues", "township", "police_station",
                 police_only=True, limits=dict(CRIMINAL), fields_schema=CLUE_SCHEMA),
    CategorySeed("06", "疫情防控", "Epidemic prevention", "grid", limits=dict(URGENT)),
    CategorySeed("07", "防汛救灾", "Flood and disaster", "township", limits=dict(URGENT),
                 fields_schema=HAZARD_SCHEMA),
    CategorySeed("08", "环境卫生", "Environment and sanitation", "village"),
    CategorySeed("09", "城市管理", "Urban management", "township", "department"),
    CategorySeed("10", "民生诉求", "Livelihood requests", "village"),
    CategorySeed("99", "其他", "Other", "grid"),
)
