"""Synthetic demo cases: a month of case work across a city, deterministic in a seed.

Three stages:

1. **Planning** (``plan_cases``, pure): the seed picks for each case a grid (most in the demo
   county, many at the demo grid), a category weighted like real grids (disputes and sanitation
   common, criminal clues rare), a text from small Chinese templates, a route (the grid team, the
   village or the township after escalation, a police station, a department) and an outcome —
   the actions it has gone through, each with a delay. Every status occurs; some cases are
   escalated, suspended, reworked, rated, extended, spot-checked.
2. **Executing**: every case is reported with ``case_service.create`` and moved with the
   service's actions (``act`` without its re-read of the case), as the real staff of its grid
   and levels: the demo log-ins (``wangge demo``) where they hold the post, elsewhere the
   synthetic person holding it, acting without an account (a subject built from the person's
   posts as ``subject_for`` builds one, so roles, scope and police-only reading are the
   service's own). Timeline, audit records and stream events are the real ones; the audit
   records carry the real (generation) time.
3. **Backdating**: the case rows and their timeline entries (never the audit records, which are
   append-only) are moved to the planned times, spread over the last 30 days, and each running
   clock's deadline is recomputed from its planned start with the category's limit and the
   working-day calendar. Case numbers follow (they are derived from the report's day). Then the
   real deadline sweep runs: cases past their deadline are marked overdue by the system, as they
   would be on a live server.

Idempotent: a city that already has cases gets none.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from wangge.auth.subjects import subject_for, subject_from_posts
from wangge.authz.scope import Subject, in_subtree
from wangge.cases import workflow
from wangge.cases.repository import CaseRepository
from wangge.cases.schemas import ActionIn, CaseCreate, CaseOut, Handler
from wangge.cases.service import case_out, case_service, reference
from wangge.demo import CITY, DEMO_ACCOUNTS, DEMO_GRID, DEMO_GRID_ROLES, SEED
from wangge.geo.service import GridIndexCache
from wangge.kit.calendar import LOCAL, Limit, WorkCalendar
from wangge.kit.db import create_sessionmaker, utcnow
from wangge.models import (
    Account,
    Case,
    CaseAction,
    CaseCategory,
    Organisation,
    OrganisationCoverage,
    Person,
    Post,
    Region,
    RegionShape,
)
from wangge.org.names import synthetic_name

T = TypeVar("T")

# How the cases spread: the demo grid (whose team has demo log-ins), the rest of its township,
# of its county, then the rest of the city. The other grids of the demo village get none: quiet
# neighbours, to show (and test) that a grid's cases stay out of the next grid's screens.
SPREAD = (0.15, 0.20, 0.25, 0.40)
COUNT = 300
DAYS = 30
# Actor keys of the grid team → their roles.
GRID_ROLE_OF = {"leader": "grid_leader", "deputy": "deputy_grid_leader",
                "member": "grid_member", "support": "grid_support"}
# Actor keys above the grid → the length of the region code they command.
LEVEL_OF_KEY = {"village": 12, "township": 9, "county": 6}
# Demo log-ins at DEMO_GRID by actor key.
DEMO_GRID_LOGINS = {key: username for key, role in GRID_ROLE_OF.items()
                    for r, username in DEMO_GRID_ROLES if r == role}

# --- what happens -------------------------------------------------------------------------------

# Category weights (percent), like a year of reports in a prefecture-level city's grids.
CATEGORY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("0101", 4), ("0102", 9), ("0103", 4), ("0104", 2), ("0105", 1), ("0106", 3), ("0107", 1),
    ("0108", 1), ("0109", 1), ("0110", 4), ("0111", 1), ("0112", 1), ("0113", 2), ("0114", 3),
    ("0115", 2), ("02", 5), ("0301", 3), ("0302", 5), ("04", 2), ("05", 1.5), ("06", 3),
    ("07", 3), ("08", 18), ("09", 8), ("10", 10), ("99", 3.5),
)
# The department each category goes to (by the suffix of the synthetic departments' codes).
DEPARTMENT_KEY = {"0301": "YJ", "0302": "YJ", "07": "SL", "09": "SC", "10": "MZ"}
# Categories a grid may handle on the spot (self-handled) and close with evidence.
SELF_HANDLED = {"0102", "0115", "06", "08", "10", "99"}

# Outcomes: the actions a case has been through, by name (see ``_script``), with weights.
OUTCOMES: tuple[tuple[str, float], ...] = (
    ("reported", 9), ("voided", 5), ("accepted", 6), ("dispatched", 9), ("in_progress", 10),
    ("extension", 2), ("extended", 2), ("handled", 7), ("closed", 16), ("rated", 8),
    ("reworked", 4), ("suspended", 4), ("resumed", 2), ("handler_escalated", 4),
    ("self_handled", 8), ("spot_checked", 3), ("spot_failed", 1),
)
# Delay before each action, in hours (low, high).
DELAYS: dict[str, tuple[float, float]] = {
    "accept": (0.1, 1.5), "void": (0.2, 6), "escalate": (0.3, 4), "dispatch": (0.1, 3),
    "start": (0.3, 12), "report_handled": (3, 60), "close": (1, 20), "rework": (1, 20),
    "rate": (2, 48), "suspend": (2, 48), "resume": (24, 96), "request_extension": (20, 48),
    "approve_extension": (1, 6), "spot_check": (24, 96),
}

PLACES_URBAN = ("3号楼2单元", "小区东门", "菜市场入口", "幸福路与人民路交叉口", "社区广场",
                "12号楼楼道", "地下车库入口", "沿街商铺门前", "老旧小区院内", "公交站台旁")
PLACES_RURAL = ("村东头", "村委会门前", "南地麦田旁", "三组胡同口", "村西养殖场", "文化广场",
                "老学校旁空地", "沟渠边", "村北砖厂", "集市路口")

# (title, description): {place}, {a}, {b} (people) and {n} (a number) are filled in.
TEXTS: dict[str, tuple[tuple[str, str], ...]] = {
    "0101": (("{a}家夫妻矛盾激化", "{place}居民{a}与配偶因家庭琐事多次争吵，亲属{b}请求网格员"
              "上门调解。"),
             ("赡养老人问题引发家庭纠纷", "{a}兄弟{n}人对母亲赡养费分担有争议，老人{b}向网格员"
              "求助。")),
    "0102": (("{place}邻里因噪音发生纠纷", "{a}反映楼上住户{b}夜间噪音扰民，双方多次争执。"),
             ("邻里因排水问题争执", "{a}与{b}两家因院墙排水沟走向发生争执，{n}人围观。"),
             ("宅前堆放杂物引发邻里矛盾", "{a}在{place}长期堆放杂物，邻居{b}多次协商未果。")),
    "0103": (("{a}与{b}宅基地界址争议", "两户因宅基地边界及翻建房屋越界问题发生争执，需现场"
              "测量核实。"),),
    "0104": (("装修合同款项纠纷", "{a}反映装修队负责人{b}收取预付款后停工，要求退款。"),),
    "0105": (("合作社分红争议", "{n}名社员对合作社年度分红方案有异议，与负责人{b}发生争执。"),),
    "0106": (("电动车剐蹭赔偿争议", "{a}的电动车在{place}剐蹭{b}的轿车，双方就赔偿金额未达成"
              "一致。"),
             ("楼上漏水损坏财物", "{a}家卫生间漏水致楼下{b}家吊顶损坏，双方对赔偿有争议。")),
    "0107": (("承包地边界纠纷", "{a}与{b}因承包地地界石被移动发生争执。"),),
    "0108": (("拆迁补偿款分配争议", "{a}家庭成员{n}人对拆迁补偿款分配有争议，{b}情绪激动。"),),
    "0109": (("养殖场异味引发纠纷", "{place}周边{n}户村民反映养殖场异味严重，与场主{b}交涉"
              "未果。"),),
    "0110": (("农民工讨要欠薪", "{n}名务工人员反映工头{b}拖欠工资，聚集在{place}讨薪。"),
             ("厂门口劳资对峙", "{n}名工人家属与工厂保安在厂门口对峙，要求结清{a}等人工资。")),
    "0111": (("预付卡退费纠纷", "{a}等{n}人反映{place}健身房停业，预付卡无法退费。"),),
    "0112": (("诊所诊疗费用争议", "{a}对村卫生室收费有异议，与医生{b}发生争执。"),),
    "0113": (("交通事故赔偿协商", "{a}驾驶三轮车与{b}的电动车在{place}相撞，双方协商赔偿未"
              "果。"),),
    "0114": (("物业费收缴与服务质量纠纷", "{n}户业主以电梯长期故障为由拒交物业费，与物业经理"
              "{b}争执。"),),
    "0115": (("红白事占道引发矛盾", "{a}家办事在{place}搭棚占道，邻居{b}出行受阻发生口角。"),),
    "02": (("{place}夜间有人聚集饮酒滋事", "群众反映近几晚{place}有{n}人聚集饮酒喧哗，存在"
            "治安隐患。"),
           ("出租屋人员频繁更换", "{place}一出租屋近期人员频繁进出，房东{b}无法提供登记信息。"),
           ("{place}路灯损坏", "{place}路灯损坏多日，夜间照明不足，存在治安隐患。")),
    "0301": (("小作坊违规使用液化气", "{place}一食品小作坊使用多个液化气罐，无安全防护。"),
             ("{place}施工现场未设防护", "{place}建筑工地基坑边未设护栏，临近道路。")),
    "0302": (("{place}电动车楼道充电", "{place}多辆电动车在楼道内飞线充电，存在火灾隐患。"),
             ("沿街商铺私拉电线", "{place}商铺私拉电线，线路老化裸露。"),
             ("消防通道被占用", "{place}消防通道被车辆长期占用。")),
    "04": (("{a}拟赴市上访", "{a}因安置房分配问题多次到村委会反映，近日表示拟赴市上访。"),
           ("多名群众反映拟集体上访", "{n}名群众因土地流转费用问题酝酿集体上访。")),
    "05": (("发现疑似非法储存爆炸物", "店主{a}反映{place}一仓库疑似存放雷管炸药。"),
           ("疑似电信诈骗窝点", "{place}一出租屋人员昼伏夜出，大量手机卡，疑似电信诈骗。"),
           ("疑似聚众赌博", "{place}一棋牌室深夜有{n}余人聚集，疑似赌博。")),
    "06": (("返乡人员健康核查", "{a}反映邻居{b}一家从外地返乡，需核查健康状况。"),
           ("{place}发现疑似发热人员", "{place}有一名疑似发热人员，需上门核查。")),
    "07": (("{place}排水不畅有积水", "连日降雨，{place}积水深约{n}0厘米，影响通行。"),
           ("河堤出现渗水", "{place}附近河堤出现渗水点，需巡查加固。"),
           ("危房住户需转移", "{a}家房屋年久失修，降雨期间有倒塌风险，需转移安置。")),
    "08": (("{place}垃圾堆积未清运", "{place}生活垃圾堆积{n}天未清运，气味难闻。"),
           ("{place}污水外溢", "{place}下水道堵塞，污水外溢至路面。"),
           ("乱倒建筑垃圾", "{place}有人夜间倾倒建筑垃圾。"),
           ("公厕卫生差", "{place}公厕无人保洁，卫生状况差。")),
    "09": (("{place}占道经营", "{place}流动摊贩占道经营，影响通行。"),
           ("违章搭建彩钢棚", "{a}在{place}私自搭建彩钢棚。"),
           ("共享单车乱停放", "{place}共享单车大量堆放，堵塞人行道。"),
           ("广告牌松动", "{place}商铺广告牌松动，有坠落风险。")),
    "10": (("独居老人需要帮扶", "{place}独居老人{a}行动不便，生活困难，需协调帮扶。"),
           ("低保申请咨询", "{a}家庭因病致贫，咨询低保申请流程。"),
           ("{place}自来水停水", "{place}停水{n}天，居民生活受影响。"),
           ("残疾人补贴未到账", "{a}反映残疾人两项补贴未按时到账。")),
    "99": (("{place}井盖缺失", "{place}井盖缺失，存在行人跌落隐患。"),
           ("流浪犬伤人隐患", "{place}流浪犬聚集，已有{n}名儿童被追咬。")),
}
FEEDBACK: dict[str, tuple[str, ...]] = {
    "01": ("网格员与双方面对面调解，双方达成一致意见，已签署调解协议。",
           "经村调委会组织调解，双方互谅互让，纠纷化解。"),
    "02": ("已联系派出所加强夜间巡逻，现场已无人员聚集。", "已完成出租屋人员信息登记。"),
    "03": ("已督促整改，隐患已消除，现场复查合格。", "已责令停止使用并完成整改。"),
    "04": ("已上门做思想工作，当事人表示不再上访，问题按程序办理。",),
    "05": ("派出所已核查处置，线索已移交办案部门。",),
    "06": ("已上门核查，人员健康状况正常。",),
    "07": ("已组织人员排水疏通，险情排除。", "已将住户转移至安全地点。"),
    "08": ("已协调保洁人员清运完毕，现场恢复整洁。", "已疏通下水道，路面已清理。"),
    "09": ("已劝离摊贩并规范经营秩序。", "已督促当事人自行拆除。"),
    "10": ("已协调民政部门上门帮扶，问题已解决。", "已告知办理流程并协助提交材料。"),
    "99": ("已协调相关单位完成修复。",),
}
ESCALATE_REASONS = ("涉及多户，网格内协调未果，提请村级调解。",
                    "超出村级处置能力，报请乡镇（街道）处理。")
HANDLER_ESCALATE = ("调解未果，双方情绪激动，提请上级介入。", "涉及面广，网格难以独立处置。")
VOID_REASONS = ("重复上报。", "经核实情况不属实。", "不属于受理范围，已告知当事人通过司法途径"
                "解决。")
SUSPEND_REASONS = ("当事人外出务工，待其返乡后继续处理。", "等待鉴定结果。",
                   "汛期暂停施工，待条件具备后处置。")
REWORK_REASONS = ("现场复核发现问题未彻底解决，请重新处置。", "反馈材料不完整，请补充后重新"
                  "上报。")
EXTENSION_REASONS = ("需等待相关部门现场勘验。", "当事人一方暂时联系不上。")
SPOT_FAIL_REASONS = ("抽查发现现场问题仍然存在。",)
RATING_COMMENTS = ("处理及时，很满意。", "基本满意。", "希望以后多回访。")


@dataclass(frozen=True)
class Step:
    """One action of a plan: who takes it (an actor key, see ``Actors``) and when (hours after
    the previous step)."""

    action: str
    actor: str
    after: float
    reason: str | None = None
    note: str | None = None
    handler: dict[str, str] | None = None
    fields: dict[str, Any] | None = None
    extra: str | None = None
    rating: int | None = None
    passed: bool | None = None
    # Who acts when ``actor`` cannot (the reporter without an account rates as the manager).
    fallback: str | None = None


@dataclass(frozen=True)
class CasePlan:
    client_uuid: str
    grid: str
    category: str
    title: str
    description: str
    address: str
    location: tuple[float, float] | None
    parties: tuple[dict[str, str], ...]
    fields: dict[str, Any]
    source: str
    reporter: str
    evidence: str | None  # a self-handled case's evidence note
    steps: tuple[Step, ...]
    status: str  # where the steps leave it
    # Planned time of every timeline entry: the report, the self-handling, then each step.
    times: tuple[datetime, ...]

    @property
    def reported_at(self) -> datetime:
        return self.times[0]


@dataclass(frozen=True)
class Area:
    """What the planner knows about a grid."""

    grid: str
    urban: bool
    box: tuple[float, float, float, float] | None  # min lng, min lat, max lng, max lat
    station: str | None  # the police station covering its township
    departments: dict[str, str] = field(default_factory=dict)  # key (SC, YJ...) → code


@dataclass(frozen=True)
class Route:
    """Where a case goes: ``up`` escalations before acceptance (0 grid, 1 village, 2 township),
    then dispatch to the accepting level itself (``organisation`` None) or an organisation."""

    up: int
    organisation: str | None = None
    handler: str | None = None  # actor key of the handler when it is an organisation


def _hours(rng: random.Random, action: str) -> float:
    lo, hi = DELAYS[action]
    return rng.uniform(lo, hi)


def _route(rng: random.Random, category: str, area: Area) -> Route:
    top = category[:2]
    if category == "05" or (category == "02" and rng.random() < 0.6):
        if area.station:
            return Route(0, area.station, "deputy")
        return Route(2)
    key = DEPARTMENT_KEY.get(category)
    dept = area.departments.get(key) if key else None
    if dept and (category != "10" or rng.random() < 0.4) and (category != "09"
                                                              or rng.random() < 0.6):
        # Sometimes the township takes it over first (a big hazard, a flood).
        up = 2 if top in ("03", "07") and rng.random() < 0.3 else 0
        return Route(up, dept, f"org:{dept}")
    if top == "04" or top == "07":
        return Route(2)
    if top == "01" or top in ("08", "10"):
        return Route(1 if rng.random() < 0.25 else 0)
    return Route(0)


def _next_status(status: str, action: str, before_suspend: str | None, passed: bool | None
                 ) -> str:
    if action == "escalate":
        return workflow.escalated_status(status)
    if action == "resume":
        return before_suspend or status
    if action == "spot_check":
        return status if passed else "accepted"
    return workflow.TRANSITIONS[action].target or status


def _script(rng: random.Random, outcome: str, route: Route, category: str, grid: str,
            police: bool) -> list[Step]:
    """The steps of one outcome along one route (see OUTCOMES)."""
    grid_manager = "deputy" if police or rng.random() < 0.25 else "leader"
    managers = (grid_manager, "village", "township")
    levels = (grid, grid[:12], grid[:9])
    top = category[:2]
    feedback = rng.choice(FEEDBACK[top])
    handled_fields = ({"mediation_method": rng.choice(("people", "on_site", "administrative")),
                       "success": True, "outcome": feedback} if top == "01" else None)

    def h(action: str) -> float:
        return _hours(rng, action)

    def handling(up: int, organisation: str | None, handler_key: str | None) -> list[Step]:
        """accept → dispatch → start → report_handled → close at level ``up``."""
        manager = managers[up]
        handler = ({"organisation": organisation} if organisation
                   else {"region": levels[up]})
        who = handler_key if organisation else ("member", "village", "township")[up]
        assert who is not None
        return [Step("accept", manager, h("accept")),
                Step("dispatch", manager, h("dispatch"), handler=handler),
                Step("start", who, h("start")),
                Step("report_handled", who, h("report_handled"), note=feedback,
                     fields=handled_fields),
                Step("close", manager, h("close"))]

    escalations = [Step("escalate", managers[i], h("escalate"), reason=ESCALATE_REASONS[i])
                   for i in range(route.up)]
    flow = escalations + handling(route.up, route.organisation, route.handler)
    manager = managers[route.up]
    names = [s.action for s in flow]

    def upto(action: str) -> list[Step]:
        return flow[: names.index(action) + 1]

    if outcome == "reported":
        return escalations if rng.random() < 0.5 else []
    if outcome == "voided":
        if rng.random() < 0.3:
            return [Step("accept", grid_manager, h("accept")),
                    Step("void", grid_manager, h("void"), reason=rng.choice(VOID_REASONS))]
        return [Step("void", grid_manager, h("void"), reason=rng.choice(VOID_REASONS))]
    if outcome in ("accepted", "dispatched", "in_progress", "handled", "closed"):
        return upto({"accepted": "accept", "dispatched": "dispatch", "in_progress": "start",
                     "handled": "report_handled", "closed": "close"}[outcome])
    handler_key = flow[names.index("start")].actor
    if outcome == "rated":
        return [*flow, Step("rate", "reporter", h("rate"), rating=rng.choice((5, 5, 5, 4, 4, 3)),
                            note=rng.choice(RATING_COMMENTS), fallback=manager)]
    if outcome in ("extension", "extended"):
        steps = [*upto("start"), Step("request_extension", handler_key, h("request_extension"),
                                      extra=rng.choice(("2wd", "3wd", "5d")),
                                      reason=rng.choice(EXTENSION_REASONS))]
        if outcome == "extended":
            steps.append(Step("approve_extension", manager, h("approve_extension")))
        return steps
    if outcome == "reworked":
        again = [Step("start", handler_key, h("start")),
                 Step("report_handled", handler_key, h("report_handled"), note=feedback,
                      fields=handled_fields)]
        return [*upto("report_handled"),
                Step("rework", manager, h("rework"), reason=rng.choice(REWORK_REASONS)),
                *again, Step("close", manager, h("close"))]
    if outcome in ("suspended", "resumed"):
        at = rng.choice(("accept", "dispatch", "start"))
        steps = [*upto(at), Step("suspend", manager, h("suspend"),
                                 reason=rng.choice(SUSPEND_REASONS))]
        if outcome == "resumed":
            steps.append(Step("resume", manager, h("resume")))
            rest = flow[names.index(at) + 1:]
            steps += rest[: rng.randint(0, len(rest))]
        return steps
    if outcome == "handler_escalated":
        # Dispatched to the grid team, which asks the village to step in.
        grid_flow = handling(0, None, None)
        village = handling(1, None, None)[1:]  # the case arrives accepted
        steps = [*grid_flow[:3], Step("escalate", "member", h("escalate"),
                                      reason=rng.choice(HANDLER_ESCALATE))]
        return steps + village[: rng.randint(0, len(village))]
    if outcome == "spot_checked":
        return [Step("spot_check", "village", h("spot_check"), passed=True)]
    if outcome == "spot_failed":
        return [Step("spot_check", "village", h("spot_check"), passed=False,
                     reason=rng.choice(SPOT_FAIL_REASONS)),
                Step("dispatch", grid_manager, h("dispatch"), handler={"region": grid})]
    if outcome == "self_handled":
        return []
    raise ValueError(f"unknown outcome {outcome!r}")


def _final_status(steps: Sequence[Step], self_handled: bool) -> str:
    status = "closed" if self_handled else "reported"
    before: str | None = None
    for s in steps:
        if s.action == "suspend":
            before = status
        status = _next_status(status, s.action, before, s.passed)
    return status


def _limit_hours(text: str) -> float:
    limit = Limit.parse(text)
    return limit.amount * {"m": 1 / 60, "h": 1, "d": 24, "wd": 24 * 7 / 5}[limit.unit]


def _times(rng: random.Random, now: datetime, steps: Sequence[Step], status: str,
           limits: dict[str, str], self_handled: bool) -> tuple[datetime, ...]:
    """Planned times: the report, (the self-handling,) then each step; within the last DAYS."""
    total = sum(s.after for s in steps)
    late = rng.random() < 0.18
    u = rng.random()
    step = workflow.STEP_OF.get(status)
    if status in workflow.OPEN_STATUSES:
        if step is None:  # suspended: no clock
            wait = 2 + 70 * u
        else:
            clock = _limit_hours(limits.get(step, "1wd"))
            wait = clock * (1.3 + 3 * u) if late else clock * (0.05 + 0.6 * u)
    else:
        wait = 1 + u * max(0.0, DAYS * 24 - total - 1)
    span = total + wait
    scale = min(1.0, (DAYS * 24 - 0.5) / span) if span > 0 else 1.0
    t = now - timedelta(hours=span * scale)
    out = [t] + ([t] if self_handled else [])
    for s in steps:
        t = t + timedelta(hours=s.after * scale)
        out.append(t)
    return tuple(out)


def _point(rng: random.Random, area: Area,
           locate: Callable[[float, float], str | None] | None) -> tuple[float, float] | None:
    if area.box is None or locate is None:
        return None
    x0, y0, x1, y1 = area.box
    for _ in range(12):
        lng, lat = round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)
        if locate(lng, lat) == area.grid:
            return lng, lat
    return None


def _text(rng: random.Random, category: str, area: Area) -> tuple[str, str, str,
                                                                  tuple[str, str]]:
    place = rng.choice(PLACES_URBAN if area.urban else PLACES_RURAL)
    a = synthetic_name(rng, rng.choice("MF"))
    b = synthetic_name(rng, rng.choice("MF"))
    n = rng.randint(2, 30)
    title, description = rng.choice(TEXTS[category])
    values = {"place": place, "a": a, "b": b, "n": n}
    return title.format(**values), description.format(**values), place, (a, b)


def _fields(rng: random.Random, category: str, place: str, day: str, people: int
            ) -> dict[str, Any]:
    top = category[:2]
    if top == "01":
        scale = "major" if people >= 30 else "large" if people >= 10 else "general"
        return {"people_count": people, "scale": scale, "occurred_on": day}
    if top in ("02", "03", "07"):
        return {"risk_level": rng.choice(("low", "medium", "medium", "high")), "place": place,
                "people_at_risk": rng.randint(0, 50)}
    if top == "05":
        return {"clue_kind": rng.choice(("explosives", "fraud", "fraud", "gambling", "drugs")),
                "source": rng.choice(("群众举报", "网格员巡查")),
                "urgency": rng.choice(("normal", "urgent"))}
    return {}


def plan_cases(areas: Sequence[Area], *, seed: int = SEED, count: int = COUNT,
               now: datetime, limits: dict[str, dict[str, str]],
               police_only: frozenset[str] = frozenset({"05"}), demo_grid: str = DEMO_GRID,
               locate: Callable[[float, float], str | None] | None = None,
               namespace: str = CITY) -> list[CasePlan]:
    """Plans ``count`` cases over ``areas`` (pure: the same inputs give the same plans; only
    the times depend on ``now``). Sorted by planned report time. The first cases take every
    outcome once, so every status occurs whenever ``count`` ≥ len(OUTCOMES)."""
    rng = random.Random(seed)
    by_code = {a.grid: a for a in sorted(areas, key=lambda a: a.grid)}
    codes = list(by_code)
    if not codes:
        return []
    demo = demo_grid if demo_grid in by_code else None
    quiet = {c for c in codes if demo and c.startswith(demo[:12]) and c != demo}
    pools: list[list[str]] = [[demo] if demo else []]
    taken = {demo, *quiet}
    for n in (9, 6):
        prefix = demo[:n] if demo else None
        pool = [c for c in codes if prefix and c.startswith(prefix) and c not in taken]
        taken.update(pool)
        pools.append(pool)
    pools.append([c for c in codes if c not in taken] or codes)
    grids: list[str] = []
    share = 0.0
    for i, (pool, weight) in enumerate(zip(pools, SPREAD, strict=True)):
        share += weight  # an empty pool's share goes to the next one
        want = count - len(grids) if i == len(pools) - 1 else round(count * share) - len(grids)
        if pool:
            grids += [rng.choice(pool) for _ in range(max(0, want))]

    categories = [c for c, _ in CATEGORY_WEIGHTS]
    weights = [w for _, w in CATEGORY_WEIGHTS]
    outcome_names = [o for o, _ in OUTCOMES]
    outcome_weights = [w for _, w in OUTCOMES]
    plans: list[CasePlan] = []
    for i, grid in enumerate(grids):
        area = by_code[grid]
        outcome = (outcome_names[i] if i < len(outcome_names)
                   else rng.choices(outcome_names, outcome_weights)[0])
        self_handled = outcome in ("self_handled", "spot_checked", "spot_failed")
        allowed = [(c, w) for c, w in zip(categories, weights, strict=True)
                   if (not self_handled or c in SELF_HANDLED)
                   and (outcome != "handler_escalated" or c not in police_only)]
        category = rng.choices([c for c, _ in allowed], [w for _, w in allowed])[0]
        police = category in police_only
        route = _route(rng, category, area)
        if outcome == "handler_escalated" and (route.up or route.organisation):
            outcome = "in_progress"
        steps = _script(rng, outcome, route, category, grid, police)
        title, description, place, (a, b) = _text(rng, category, area)
        people = rng.randint(2, 40) if category == "0110" else rng.randint(2, 12)
        reporter = ("deputy" if police and rng.random() < 0.3 else
                    rng.choices(("member", "support", "leader"), (75, 10, 15))[0])
        source = rng.choices(("grid_worker", "resident", "phone"), (75, 15, 10))[0]
        # Its own generator: plans do not depend on whether points could be placed.
        location = _point(random.Random(f"{namespace}:{seed}:{i}"), area, locate)
        parties = ((({"name": a, "role": "申请人"}, {"name": b, "role": "被申请人"}))
                   if category.startswith("01") else ())
        evidence = rng.choice(FEEDBACK[category[:2]]) if self_handled else None
        status = _final_status(steps, self_handled)
        times = _times(rng, now, steps, status, limits.get(category, {}), self_handled)
        day = times[0].astimezone(LOCAL).date().isoformat()
        plans.append(CasePlan(
            client_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL,
                                       f"wangge:demo-case:{namespace}:{seed}:{i}")),
            grid=grid, category=category, title=title[:100], description=description,
            address=place, location=location, parties=parties,
            fields=_fields(rng, category, place, day, people), source=source,
            reporter=reporter, evidence=evidence, steps=tuple(steps), status=status,
            times=times))
    return sorted(plans, key=lambda p: (p.reported_at, p.client_uuid))


# --- acting as the staff ----------------------------------------------------------------------


class Actors:
    """The subjects who act: demo log-ins where they hold the post, else the synthetic person
    holding it (first by post id), as the subject ``subject_for`` would build for their
    account — without one (``account_id`` None: the timeline and audit name the person)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.logins: dict[str, Subject] = {}
        self.login_of: dict[int, Subject] = {}  # person id → their demo log-in
        self.commanding: dict[str, Subject] = {}  # region → the demo log-in commanding it
        self.people: dict[int, Subject] = {}
        self.team: dict[tuple[str, str], int] = {}  # (grid, role) → person id
        self.commanders: dict[str, int] = {}  # region → person id
        self.officers: dict[str, int] = {}  # organisation code → person id
        self.names: dict[int, str] = {}

    async def load(self, plans: Sequence[CasePlan]) -> Actors:
        grids = sorted({p.grid for p in plans})
        levels = sorted({p.grid[:n] for p in plans for n in (12, 9, 6)})
        organisations = sorted({s.actor[4:] for p in plans for s in p.steps
                                if s.actor.startswith("org:")})
        for chunk in _chunks(grids):
            team = await self.session.execute(
                select(Post.region_code, Post.role, Post.person_id, Person.name)
                .join(Person, Person.id == Post.person_id)
                .where(Post.region_code.in_(chunk), Post.role.in_(list(GRID_ROLE_OF.values())))
                .order_by(Post.id))
            for grid, role, person, name in team:
                self.team.setdefault((grid, role), person)
                self.names[person] = name
        for chunk in _chunks(levels):
            commanders = await self.session.execute(
                select(Post.region_code, Post.person_id, Person.name, Person.service)
                .join(Person, Person.id == Post.person_id)
                .where(Post.region_code.in_(chunk), Post.role == "commander")
                .order_by(Post.id))
            fallback: dict[str, int] = {}
            for region, commander, cname, service in commanders:
                self.names[commander] = cname
                fallback.setdefault(region, commander)
                if service in (None, "government"):  # not the police chief's second post
                    self.commanders.setdefault(region, commander)
            for region, commander in fallback.items():
                self.commanders.setdefault(region, commander)
        if organisations:
            officers = await self.session.execute(
                select(Organisation.code, Post.person_id, Person.name)
                .join(Post, Post.organisation_id == Organisation.id)
                .join(Person, Person.id == Post.person_id)
                .where(Organisation.code.in_(organisations),
                       Post.role == "department_officer")
                .order_by(Post.id))
            for org, officer, oname in officers:
                self.officers.setdefault(org, officer)
                self.names[officer] = oname
        usernames = [*DEMO_GRID_LOGINS.values(), *(u for u, _, _ in DEMO_ACCOUNTS)]
        for account in (await self.session.execute(
                select(Account).where(Account.username.in_(usernames))
                .order_by(Account.id))).scalars():
            login = await subject_for(self.session, account)
            self.logins[account.username] = self.login_of[account.person_id] = login
            for post in login.posts:
                if post.role == "commander":
                    self.commanding.setdefault(post.code, login)
        await self._load_people()
        return self

    async def _load_people(self) -> None:
        """The subjects of every person who may act, built like ``subject_for`` builds an
        account's (two queries per 500 people instead of two per person)."""
        wanted = sorted({*self.team.values(), *self.commanders.values(),
                         *self.officers.values()} - set(self.login_of))
        for chunk in _chunks(wanted):
            held: dict[int, list[tuple[Post, Organisation | None]]] = {}
            for post, org in await self.session.execute(
                    select(Post, Organisation)
                    .outerjoin(Organisation, Organisation.id == Post.organisation_id)
                    .where(Post.person_id.in_(chunk)).order_by(Post.id)):
                held.setdefault(post.person_id, []).append((post, org))
            org_ids = sorted({o.id for posts in held.values() for _, o in posts if o})
            coverage: dict[int, list[str]] = {}
            for ids in _chunks(org_ids):
                for oid, code in await self.session.execute(
                        select(OrganisationCoverage.organisation_id,
                               OrganisationCoverage.region_code)
                        .where(OrganisationCoverage.organisation_id.in_(ids))):
                    coverage.setdefault(oid, []).append(code)
            for person, posts in held.items():
                self.people[person] = _subject_of(self.names[person], person, posts, coverage)

    async def _person(self, person_id: int) -> Subject:
        subject = self.login_of.get(person_id) or self.people.get(person_id)
        if subject is None:
            # The subject the person's account would have; the transient row is never added.
            stand_in = Account(username=self.names.get(person_id, f"person {person_id}"),
                               person_id=person_id)
            subject = await subject_for(self.session, stand_in)
            self.people[person_id] = subject
        return subject

    def _login_at(self, key: str, grid: str) -> Subject | None:
        if key in DEMO_GRID_LOGINS and grid == DEMO_GRID:
            return self.logins.get(DEMO_GRID_LOGINS[key])
        if key in LEVEL_OF_KEY:
            return self.commanding.get(grid[: LEVEL_OF_KEY[key]])
        if key.startswith("org:"):
            org = key[4:]
            for login in self.logins.values():
                if any(p.code == org and p.role == "department_officer" for p in login.posts) \
                        and login.can_read_code(grid):
                    return login
        return None

    async def subject(self, key: str, grid: str) -> Subject:
        login = self._login_at(key, grid)
        if login is not None:
            return login
        person: int | None
        if key in GRID_ROLE_OF:
            person = self.team.get((grid, GRID_ROLE_OF[key]))
            if person is None and key == "support":
                person = self.team.get((grid, "grid_member"))
        elif key in LEVEL_OF_KEY:
            person = self.commanders.get(grid[: LEVEL_OF_KEY[key]])
        elif key.startswith("org:"):
            person = self.officers.get(key[4:])
        else:
            raise ValueError(f"unknown actor {key!r}")
        if person is None:
            raise LookupError(f"nobody holds the {key} post for grid {grid}")
        return await self._person(person)


def _subject_of(name: str, person_id: int, held: Sequence[tuple[Post, Organisation | None]],
                coverage: dict[int, list[str]]) -> Subject:
    """The subject of a person without an account (``subject_for``'s rules)."""
    return subject_from_posts(name, held, coverage, person_id=person_id)


def _chunks(items: Sequence[T], size: int = 500) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# --- executing, backdating ----------------------------------------------------------------------


@dataclass
class Executed:
    plan: CasePlan
    case_id: int
    # After each timeline entry: the case's (due_at, step) as the service left it.
    snaps: list[tuple[datetime | None, str | None]]
    final: CaseOut


@dataclass(frozen=True)
class Generation:
    """What ``generate_cases`` did."""

    created: int
    by_status: dict[str, int]
    overdue: int
    seconds: float


async def _execute(session: AsyncSession, actors: Actors, index: GridIndexCache,
                   plan: CasePlan) -> Executed:
    reporter = await actors.subject(plan.reporter, plan.grid)
    data = CaseCreate.model_validate({
        "client_uuid": plan.client_uuid, "category_code": plan.category, "title": plan.title,
        "description": plan.description,
        "location": {"lng": plan.location[0], "lat": plan.location[1]} if plan.location
        else None,
        "grid_code": None if plan.location else plan.grid, "address": plan.address,
        "parties": list(plan.parties), "fields": plan.fields, "source": plan.source,
        "self_handled": plan.evidence is not None,
        "evidence": {"note": plan.evidence} if plan.evidence else None})
    out, _ = await case_service.create(session, reporter, data, index)
    case = await session.get(Case, out.id)
    assert case is not None
    snaps: list[tuple[datetime | None, str | None]] = [(out.due_at, out.step)] * (
        2 if plan.evidence else 1)
    for step in plan.steps:
        key = step.actor
        if key == "reporter":
            key = plan.reporter if reporter.account_id is not None else step.fallback or ""
        subject = await actors.subject(key, plan.grid)
        body = ActionIn(
            version=case.version, note=step.note, reason=step.reason,
            handler=Handler.model_validate(step.handler) if step.handler else None,
            fields=step.fields, extra=step.extra, rating=step.rating, passed=step.passed)
        # ``act`` minus its re-read of the case (held here); the rest is the real action.
        await case_service._apply(session, subject, CaseRepository(session, subject), case,
                                  step.action, body)
        snaps.append((case.due_at, case.step))
    out = case_out(case, reporter)
    return Executed(plan, out.id, snaps, out)


async def _backdate(session: AsyncSession, done: Sequence[Executed]) -> None:
    """Moves each case and its timeline to the planned times (audit records stay as written)."""
    if not done:
        return
    repo = CaseRepository(session, Subject.everything())
    calendar = await reference.calendar(repo)
    entries: dict[int, list[CaseAction]] = {}
    for chunk in _chunks([d.case_id for d in done]):
        rows = await session.execute(
            select(CaseAction).where(CaseAction.case_id.in_(chunk))
            .order_by(CaseAction.case_id, CaseAction.id))
        for row in rows.scalars():
            entries.setdefault(row.case_id, []).append(row)
    case_rows: list[dict[str, Any]] = []
    action_rows: list[dict[str, Any]] = []
    for d in done:
        timeline = entries[d.case_id]
        planned = d.plan.times
        if len(timeline) != len(planned):
            raise RuntimeError(f"case {d.case_id}: {len(timeline)} timeline entries, "
                               f"{len(planned)} planned")
        actual = [e.at for e in timeline]

        def move(ts: datetime | None, actual: list[datetime] = actual,
                 planned: tuple[datetime, ...] = planned) -> datetime | None:
            if ts is None:
                return None
            # The entry whose action set it (create stamps the case a moment before its entry).
            return planned[min(range(len(actual)), key=lambda i: abs(actual[i] - ts))]

        rules = await reference.category(repo, d.plan.category)
        assert rules is not None
        due, remaining, approvals = _replay_clock(timeline, planned, d.snaps, rules.limit,
                                                 calendar)
        final = d.final
        request = final.extension_request
        for e, at in zip(timeline, planned, strict=True):
            data = json.loads(e.data)
            if e.action == "request_extension":
                data["at"] = at.isoformat()
                if request is not None:
                    request = {**request, "at": data["at"]}
            if e.action == "approve_extension" and "due_at" in data:
                approved = approvals.get(e.id)
                data["due_at"] = approved.isoformat() if approved else None
            action_rows.append({"_id": e.id, "at": at,
                                "data": json.dumps(data, ensure_ascii=False, sort_keys=True,
                                                   separators=(",", ":"), default=str)})
        case_rows.append({
            "_id": d.case_id, "reported_at": move(final.reported_at),
            "accepted_at": move(final.accepted_at), "dispatched_at": move(final.dispatched_at),
            "handled_at": move(final.handled_at), "closed_at": move(final.closed_at),
            "suspended_at": move(final.suspended_at), "due_at": due,
            "remaining_seconds": remaining if final.status == "suspended" else None,
            "extension_request": json.dumps(request, ensure_ascii=False, sort_keys=True,
                                            separators=(",", ":"), default=str)
            if request is not None else None,
            "synthetic": True, "updated_at": planned[-1]})
    # Core executemany (the SET clause comes from the rows' keys): the ORM would bump
    # ``cases.version``, which the timeline and the audit records refer to.
    cases, actions = Case.__table__, CaseAction.__table__
    await session.execute(update(cases).where(cases.c.id == bindparam("_id")), case_rows)
    await session.execute(update(actions).where(actions.c.id == bindparam("_id")), action_rows)


def _replay_clock(timeline: Sequence[CaseAction], planned: Sequence[datetime],
                  snaps: Sequence[tuple[datetime | None, str | None]],
                  limit: Callable[[str], Limit], calendar: WorkCalendar,
                  ) -> tuple[datetime | None, int | None, dict[int, datetime | None]]:
    """The deadline the case would have had with its actions at the planned times.

    Follows the service: an action that changed the deadline restarted the step's clock
    (``calendar.deadline(at, limit)``), except ``approve_extension`` (the extension added to
    the old deadline) and ``resume`` (the time left at suspension). Returns the final deadline,
    the seconds left at the last suspension and each approval's new deadline.
    """
    due: datetime | None = None
    remaining: int | None = None
    seen: object = object()
    approved: dict[int, datetime | None] = {}
    for entry, at, (actual_due, step) in zip(timeline, planned, snaps, strict=True):
        if entry.action == "suspend":
            remaining = max(0, int((due - at).total_seconds())) if due else 0
            due = None
        elif actual_due == seen:
            pass
        elif actual_due is None or step is None:
            due = None
        elif entry.action == "resume":
            due = at + timedelta(seconds=remaining or 0)
        elif entry.action == "approve_extension":
            extra = json.loads(entry.data).get("extra")
            due = calendar.deadline(due, Limit.parse(extra)) if due and extra else actual_due
            approved[entry.id] = due
        else:
            due = calendar.deadline(at, limit(step))
        seen = actual_due
    return due, remaining, approved


# --- the entry point ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CityInputs:
    """What planning reads from the database: the grids, the categories' limits and which
    categories are police-only."""

    areas: list[Area]
    limits: dict[str, dict[str, str]]
    police_only: frozenset[str]


async def city_inputs(session: AsyncSession, city: str) -> CityInputs:
    categories = (await session.execute(select(CaseCategory))).scalars().all()
    return CityInputs(await _areas(session, city),
                      {c.code: json.loads(c.limits) for c in categories},
                      frozenset(c.code for c in categories if c.police_only))


async def _areas(session: AsyncSession, city: str) -> list[Area]:
    grids = (await session.execute(
        select(Region.code, Region.urban, RegionShape.min_lng, RegionShape.min_lat,
               RegionShape.max_lng, RegionShape.max_lat)
        .outerjoin(RegionShape, RegionShape.code == Region.code)
        .where(Region.level == "grid", in_subtree(Region.code, city)).order_by(Region.code)
    )).all()
    stations: dict[str, str] = {}
    for code, township in await session.execute(
            select(Organisation.code, OrganisationCoverage.region_code)
            .join(OrganisationCoverage, OrganisationCoverage.organisation_id == Organisation.id)
            .where(Organisation.kind == "police_station",
                   in_subtree(OrganisationCoverage.region_code, city))
            .order_by(Organisation.code)):
        stations.setdefault(township, code)
    departments = (await session.execute(
        select(Organisation.code, Organisation.region_code)
        .where(Organisation.kind == "department", in_subtree(Organisation.region_code, city))
        .order_by(Organisation.code))).all()
    covered = {o for (o,) in await session.execute(
        select(Organisation.code).join(OrganisationCoverage,
                                       OrganisationCoverage.organisation_id == Organisation.id)
        .where(Organisation.kind == "department"))}
    # Departments by home region (serving everything below it), by the key ending their code.
    by_home: dict[str, dict[str, str]] = {}
    for dept, home in departments:
        if dept not in covered:
            by_home.setdefault(home, {}).setdefault(dept.rsplit("-", 1)[-1], dept)
    out = []
    for code, urban, x0, y0, x1, y1 in grids:
        depts: dict[str, str] = {}
        # Deepest first: the county's department before the city's.
        for n in (12, 9, 6, 4, 2):
            for key, dept in by_home.get(code[:n], {}).items():
                depts.setdefault(key, dept)
        out.append(Area(code, bool(urban), (x0, y0, x1, y1) if x0 is not None else None,
                        stations.get(code[:9]), depts))
    return out


async def generate_cases(engine: AsyncEngine, city: str = CITY, count: int = COUNT,
                         seed: int = SEED, say: Callable[[str], None] = lambda _: None
                         ) -> Generation:
    """Generates ``count`` synthetic cases in ``city`` (nothing if it already has cases or no
    staffed grids), in one transaction; see the module doc."""
    from wangge.cases.tasks import sweep

    started = time.perf_counter()
    async with create_sessionmaker(engine)() as session:
        has_cases = (await session.execute(
            select(Case.id).where(in_subtree(Case.region_code, city)).limit(1))).first()
        if has_cases is not None:
            say("cases: the city already has cases, none generated")
            return Generation(0, {}, 0, time.perf_counter() - started)
        inputs = await city_inputs(session, city)
        staffed = (await session.execute(
            select(Post.id).where(in_subtree(Post.region_code, city), Post.role == "grid_member")
            .limit(1))).first()
        if not inputs.areas or staffed is None:
            say("cases: no staffed grids, none generated")
            return Generation(0, {}, 0, time.perf_counter() - started)
        # Built once: grids do not change inside this transaction.
        index = GridIndexCache(check_seconds=24 * 3600)
        grid_index = await index.get(session)
        plans = plan_cases(inputs.areas, seed=seed, count=count, now=utcnow(),
                           limits=inputs.limits, police_only=inputs.police_only,
                           locate=grid_index.locate_one, namespace=city)
        actors = await Actors(session).load(plans)
        done = [await _execute(session, actors, index, plan) for plan in plans]
        await session.flush()
        session.expunge_all()  # the rows change below, outside the unit of work
        await _backdate(session, done)
        swept = await sweep(session)
        await session.commit()
    by_status = dict(Counter(d.final.status for d in done))
    seconds = time.perf_counter() - started
    say(f"cases: {len(done):,} synthetic cases, {swept.marked} overdue ({seconds:.1f} s)")
    return Generation(len(done), by_status, swept.marked, seconds)
