"""The audit page: an administrator searches their subtree's records (``/audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from wangge.audit.schemas import AuditPage, AuditQuery
from wangge.audit.service import audit_service
from wangge.authz.permissions import AUDIT_READ
from wangge.authz.scope import Subject
from wangge.kit.errors import InvalidInput
from wangge.kit.web import Authorizer, Session
from wangge.web.pages import render, request_language

router = APIRouter(include_in_schema=False)
AuditReader = Annotated[Subject, Depends(Authorizer(AUDIT_READ))]
LOCAL = ZoneInfo("Asia/Shanghai")
FIELDS = ("actor", "action", "target_type", "target_id", "region", "since", "until")
PAGE_SIZE = 50


def local_time(at: datetime) -> str:
    """A UTC time as the UI shows it: Asia/Shanghai, to the second."""
    return at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S")


def parse_local(field: str, value: str) -> datetime:
    """A ``datetime-local`` form value, read as Asia/Shanghai time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a date and time") from None
    return parsed.replace(tzinfo=LOCAL) if parsed.tzinfo is None else parsed


def form_query(form: dict[str, str]) -> AuditQuery:
    """The search the form asks for; blank fields do not filter."""
    values: dict[str, Any] = {k: v for k, v in form.items() if v}
    for name in ("since", "until"):
        if name in values:
            values[name] = parse_local(name, values[name])
    return AuditQuery(**values)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request, session: Session, subject: AuditReader) -> Response:
    """Filter form and the matching records, newest first, 50 a page."""
    lang = request_language(request)
    params = request.query_params
    form = {name: params.get(name, "").strip()[:64] for name in FIELDS}
    after = params.get("after_id", "")
    errors: dict[str, str] = {}
    page = AuditPage(items=[], next_after_id=None)
    try:
        after_id = int(after) if after else None
        if after_id is not None and after_id < 1:
            raise ValueError
    except ValueError:
        errors["after_id"] = "not a record id"
        after_id = None
    try:
        page = await audit_service.search(session, subject, form_query(form),
                                          after_id=after_id, limit=PAGE_SIZE)
    except InvalidInput as exc:
        errors[str(exc.detail.get("field", ""))] = str(exc.detail.get("reason", exc.message))
    next_url = None
    if page.next_after_id is not None:
        older = request.url.include_query_params(after_id=page.next_after_id)
        next_url = f"{older.path}?{older.query}"
    return render(request, lang, "audit.html", status_code=422 if errors else 200,
                   form=form, errors=errors, page=page, next_url=next_url,
                   paged=after_id is not None, local_time=local_time, subject=subject)
