"""The key-place categories (重点场所) and how often each must be inspected.

The 23 categories follow the list Xinxiang's grid platform works with (issue #6), grouped as the
public-security "key industries and places" regulations group them. Each carries a default
inspection interval in days (the responsible grid's routine): places where many people gather or
hazardous goods are handled are inspected more often. A place's own interval may differ.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlaceCategory:
    code: str
    name: str  # Chinese, as the pages show it
    name_en: str
    inspection_days: int


PLACE_CATEGORIES: tuple[PlaceCategory, ...] = (
    PlaceCategory("school", "学校", "School", 30),
    PlaceCategory("kindergarten", "幼儿园", "Kindergarten", 30),
    PlaceCategory("hospital", "医院诊所", "Hospital or clinic", 30),
    PlaceCategory("pharmacy", "药店", "Pharmacy", 60),
    PlaceCategory("market", "集贸市场", "Market", 30),
    PlaceCategory("supermarket", "商场超市", "Supermarket or mall", 60),
    PlaceCategory("restaurant", "餐饮场所", "Restaurant", 60),
    PlaceCategory("hotel", "旅馆", "Hotel", 30),
    PlaceCategory("internet_cafe", "网吧", "Internet café", 30),
    PlaceCategory("entertainment", "娱乐场所", "Entertainment venue", 15),
    PlaceCategory("bathhouse", "洗浴场所", "Bath house", 30),
    PlaceCategory("petrol_station", "加油站", "Petrol station", 15),
    PlaceCategory("hazardous_chemicals", "危化品场所", "Hazardous-chemical site", 7),
    PlaceCategory("logistics", "寄递物流点", "Delivery or logistics point", 30),
    PlaceCategory("construction_site", "建筑工地", "Construction site", 15),
    PlaceCategory("religious_venue", "宗教场所", "Religious venue", 60),
    PlaceCategory("transport_station", "交通站点", "Transport station", 30),
    PlaceCategory("park_square", "公园广场", "Park or square", 60),
    PlaceCategory("elderly_care", "养老机构", "Elderly care home", 30),
    PlaceCategory("bank", "银行网点", "Bank", 60),
    PlaceCategory("residential_compound", "住宅小区", "Residential compound", 90),
    PlaceCategory("factory", "工厂企业", "Factory", 30),
    PlaceCategory("rental_cluster", "出租房屋集中区", "Rental housing cluster", 30),
)
PLACE_CATEGORY_CODES = frozenset(c.code for c in PLACE_CATEGORIES)

# The special groups (GB/T 31000) and key youth.
TAG_CATEGORIES: dict[str, str] = {
    "released_prisoner": "刑满释放人员",
    "community_correction": "社区矫正人员",
    "mental_disorder": "严重精神障碍患者",
    "drug_user": "吸毒人员",
    "hiv_risk": "艾滋病危险人员",
    "left_behind": "留守人员",
    "key_youth": "重点青少年",
}

# Care/management levels of each tag category and the visit interval (days) each level
# requires: the higher the level, the more often the responsible post visits. These intervals
# drive the special-group visit plans; the generator draws levels at its own shares.
TAG_LEVELS: dict[str, dict[str, int]] = {
    "released_prisoner": {"high": 7, "medium": 30, "low": 90},
    "community_correction": {"high": 7, "medium": 15, "low": 30},
    "mental_disorder": {"high": 7, "medium": 14, "low": 30},
    "drug_user": {"high": 7, "medium": 30, "low": 90},
    "hiv_risk": {"high": 30, "medium": 60, "low": 90},
    "left_behind": {"high": 30, "medium": 60, "low": 90},
    "key_youth": {"high": 14, "medium": 30, "low": 60},
}
PLACE_INTERVALS: dict[str, int] = {c.code: c.inspection_days for c in PLACE_CATEGORIES}
