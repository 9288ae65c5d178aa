"""UI strings: one catalogue, a dict per language (see docs/decisions/0006-ui-language.md).

Chinese is the default; English is a switch (``?lang=en`` sets a cookie). Keys are English
identifiers; every language must define every key (a test checks this).
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("zh", "en")
DEFAULT_LANGUAGE: Final = "zh"
COOKIE: Final = "wangge_lang"

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "product": "网格 Wangge",
        "tagline": "基层网格化治理",
        "html_lang": "zh-CN",
        "switch_to": "English",
        "switch_label": "切换语言",
        "skip_to_content": "跳到正文",
        "breadcrumbs": "位置",
        "map": "地图",
        "map_hint": "悬停查看名称，点击进入下一级",
        "map_no_shapes": "暂无边界数据，请从列表进入下一级。",
        "map_no_shape": "暂无边界数据。",
        "map_loading": "正在加载地图…",
        "map_failed": "地图加载失败。",
        "synthetic_note": "乡镇以下边界为示意（合成数据），非官方边界。",
        "beneath": "辖区统计",
        "children": "下级区划",
        "filter_children": "按名称或代码筛选",
        "no_children": "没有下级区划。",
        "no_match": "没有匹配的区划。",
        "name": "名称",
        "code": "代码",
        "kind": "类型",
        "households": "户数",
        "team": "网格“3+N”队伍",
        "team_empty": "该网格尚未配备人员。",
        "posts_here": "本级岗位",
        "posts_empty": "本级暂无岗位人员。",
        "role": "岗位",
        "title": "职务",
        "organisation": "单位",
        "person": "姓名",
        "staff_no": "工号",
        "not_found_title": "找不到该区划",
        "not_found_body": "代码为 {code} 的区划不存在，或您无权查看。",
        "back_home": "返回首页",
        "no_data_title": "尚未加载区划数据",
        "no_data_body": "请先运行 “wangge demo” 或 “wangge divisions load --city 4107”。",
        "footer": "区划代码：国家统计局 2023 统计用区划代码；网格、人员为演示用合成数据。",
        "people_unit": "人",
        "households_unit": "户",
        "audit_title": "审计日志",
        "audit_scope": "可查范围",
        "audit_everywhere": "全部",
        "audit_filter": "筛选",
        "audit_time_hint": "时间为北京时间",
        "audit_actor": "操作人",
        "audit_post": "岗位",
        "audit_action": "操作",
        "audit_target_type": "对象类型",
        "audit_target_id": "对象编号",
        "audit_target": "对象",
        "audit_region": "区划代码",
        "audit_since": "起始时间",
        "audit_until": "截止时间",
        "audit_search": "查询",
        "audit_reset": "清空条件",
        "audit_records": "审计记录",
        "audit_newest_first": "按时间倒序",
        "audit_time": "时间",
        "audit_changes": "变更（前 → 后）",
        "audit_to": "改为",
        "audit_client": "客户端地址",
        "audit_system_wide": "全系统",
        "audit_empty": "没有符合条件的审计记录。",
        "audit_pages": "翻页",
        "audit_newest": "最新记录",
        "audit_older": "更早的记录",
        "action.divisions.load": "加载区划",
        "action.grids.generate": "生成网格",
        "action.staff.generate": "生成人员",
        "action.staff.import": "导入人员",
        "login_title": "登录",
        "login": "登录",
        "logout": "退出登录",
        "username": "用户名",
        "password": "密码",
        "login_failed": "用户名或密码错误",
        "login_wait": "登录失败次数过多，请稍后再试。",
        "csrf_failed": "页面已过期，请重新提交。",
        "no_post_title": "尚未分配岗位",
        "no_post_body": "您的账号还没有任何岗位，因此看不到数据。请联系管理员分配岗位。",
    },
    "en": {
        "product": "网格 Wangge",
        "tagline": "Grid-based community governance",
        "html_lang": "en",
        "switch_to": "中文",
        "switch_label": "Switch language",
        "skip_to_content": "Skip to content",
        "breadcrumbs": "Breadcrumbs",
        "map": "Map",
        "map_hint": "Hover for a name, click to drill down",
        "map_no_shapes": "No boundaries yet; use the list to drill down.",
        "map_no_shape": "No boundary yet.",
        "map_loading": "Loading map…",
        "map_failed": "The map could not be loaded.",
        "synthetic_note": "Boundaries below county level are synthetic (illustrative, "
                          "not official).",
        "beneath": "Beneath this region",
        "children": "Subdivisions",
        "filter_children": "Filter by name or code",
        "no_children": "No subdivisions.",
        "no_match": "No subdivision matches.",
        "name": "Name",
        "code": "Code",
        "kind": "Type",
        "households": "Households",
        "team": "Grid \u201c3+N\u201d team",
        "team_empty": "No staff assigned to this grid yet.",
        "posts_here": "Posts at this level",
        "posts_empty": "No posts held at this level yet.",
        "role": "Role",
        "title": "Title",
        "organisation": "Organisation",
        "person": "Name",
        "staff_no": "Staff no.",
        "not_found_title": "Region not found",
        "not_found_body": "There is no region with code {code}, or you may not view it.",
        "back_home": "Back to the start",
        "no_data_title": "No regions loaded yet",
        "no_data_body": "Run \u201cwangge demo\u201d or "
                        "\u201cwangge divisions load --city 4107\u201d first.",
        "footer": "Division codes: NBS 2023 statistical division codes; grids and staff are "
                  "synthetic demo data.",
        "people_unit": "",
        "households_unit": "",
        "audit_title": "Audit log",
        "audit_scope": "Scope",
        "audit_everywhere": "everywhere",
        "audit_filter": "Filter",
        "audit_time_hint": "Times are Beijing time (UTC+8)",
        "audit_actor": "Actor",
        "audit_post": "Post",
        "audit_action": "Action",
        "audit_target_type": "Target type",
        "audit_target_id": "Target id",
        "audit_target": "Target",
        "audit_region": "Region code",
        "audit_since": "From",
        "audit_until": "Until",
        "audit_search": "Search",
        "audit_reset": "Clear",
        "audit_records": "Audit records",
        "audit_newest_first": "Newest first",
        "audit_time": "Time",
        "audit_changes": "Changes (before → after)",
        "audit_to": "changed to",
        "audit_client": "Client address",
        "audit_system_wide": "System-wide",
        "audit_empty": "No audit records match.",
        "audit_pages": "Pages",
        "audit_newest": "Newest records",
        "audit_older": "Older records",
        "action.divisions.load": "Load divisions",
        "action.grids.generate": "Generate grids",
        "action.staff.generate": "Generate staff",
        "action.staff.import": "Import staff",
        "login_title": "Log in",
        "login": "Log in",
        "logout": "Log out",
        "username": "User name",
        "password": "Password",
        "login_failed": "Wrong user name or password",
        "login_wait": "Too many failed log-ins; please wait and try again later.",
        "csrf_failed": "The page has expired; please submit again.",
        "no_post_title": "No post yet",
        "no_post_body": "Your account holds no post, so there is no data to show. Ask an "
                        "administrator to give you a post.",
    },
}

# Level names: singular (a region's own level) and the label of a count beneath it.
LEVEL_LABELS: Final[dict[str, dict[str, str]]] = {
    "zh": {"province": "省", "city": "市", "county": "县(区)", "township": "乡镇(街道)",
           "village": "村(社区)", "grid": "网格"},
    "en": {"province": "Province", "city": "City", "county": "County/District",
           "township": "Township/Street", "village": "Village/Community", "grid": "Grid"},
}
COUNT_LABELS: Final[dict[str, dict[str, str]]] = {
    "zh": {"county": "县(区)", "township": "乡镇(街道)", "village": "村(社区)", "grid": "网格",
           "staff": "人员"},
    "en": {"county": "Counties", "township": "Townships", "village": "Villages", "grid": "Grids",
           "staff": "Staff"},
}
KIND_LABELS: Final[dict[str, dict[str, str]]] = {
    "zh": {"district": "区", "county": "县", "county_city": "县级市", "zone": "功能区",
           "street": "街道", "town": "镇", "township": "乡", "other": "其他",
           "community": "社区", "village": "村", "urban": "城镇网格", "rural": "农村网格"},
    "en": {"district": "District", "county": "County", "county_city": "County-level city",
           "zone": "Functional zone", "street": "Street", "town": "Town", "township": "Township",
           "other": "Other", "community": "Community", "village": "Village",
           "urban": "Urban grid", "rural": "Rural grid"},
}
ROLE_LABELS: Final[dict[str, dict[str, str]]] = {
    "zh": {"admin": "系统管理员", "commander": "指挥长", "analyst": "分析员",
           "grid_leader": "网格长", "deputy_grid_leader": "副网格长", "grid_member": "网格员",
           "grid_support": "N（专业力量）", "department_officer": "部门人员"},
    "en": {"admin": "Administrator", "commander": "Commander", "analyst": "Analyst",
           "grid_leader": "Grid leader", "deputy_grid_leader": "Deputy grid leader",
           "grid_member": "Grid member", "grid_support": "N (supporting services)",
           "department_officer": "Department officer"},
}
SERVICE_LABELS: Final[dict[str, dict[str, str]]] = {
    "zh": {"government": "政务", "police": "警务", "social": "社务", "other": "其他"},
    "en": {"government": "Government", "police": "Police", "social": "Community",
           "other": "Other"},
}


def normalise_language(value: str | None) -> str | None:
    """The supported language a ``lang`` value names (``zh-CN`` → ``zh``), or None."""
    if not value:
        return None
    base = value.strip().lower().split("-", 1)[0].split("_", 1)[0]
    return base if base in LANGUAGES else None


class Translator:
    """Looks up UI strings for one language; falls back to the key so a gap shows, not crashes."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, **values: object) -> str:
        text = CATALOGUE[self.lang].get(key, key)
        return text.format(**values) if values else text

    def level(self, level: str) -> str:
        return LEVEL_LABELS[self.lang].get(level, level)

    def count(self, level: str) -> str:
        return COUNT_LABELS[self.lang].get(level, level)

    def kind(self, kind: str | None) -> str:
        return KIND_LABELS[self.lang].get(kind, kind) if kind else ""

    def kind_note(self, kind: str | None, name: str) -> str:
        """The kind label, unless the (Chinese) name already says it (红旗区 is plainly a 区)."""
        # Village names end in 村民委员会 / 居民委员会, which says it too.
        if not kind or kind in ("village", "community") or name.endswith(
                KIND_LABELS["zh"].get(kind, "\0")):
            return ""
        return self.kind(kind)

    def role(self, role: str) -> str:
        return ROLE_LABELS[self.lang].get(role, role)

    def service(self, service: str | None) -> str:
        return SERVICE_LABELS[self.lang].get(service, service) if service else ""
