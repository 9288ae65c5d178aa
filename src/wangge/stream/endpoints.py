"""Event stream API: ``GET /api/v1/stream`` (Server-Sent Events)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from wangge.auth.tokens import token_hash
from wangge.authz.permissions import STREAM_READ
from wangge.kit import bus as bus_module
from wangge.kit.errors import Forbidden, InvalidInput, WanggeError
from wangge.kit.web import ERROR_RESPONSES, get_subject, request_token
from wangge.stream.service import StreamRequest, stream_service

router = APIRouter(prefix="/api/v1", tags=["stream"], responses=ERROR_RESPONSES)


class Unavailable(WanggeError):
    status_code = 503
    code = "unavailable"


def parse_last_event_id(value: str | None, field: str) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidInput(field, "must be a whole number (an event id)") from None
    if number < 0:
        raise InvalidInput(field, "must not be negative")
    return number


@router.get(
    "/stream", response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "Server-Sent Events: id = event-log id, event = type"},
               503: {"description": "The event bus is not running"}},
)
async def stream(
    request: Request,
    last_event_id_header: str | None = Header(None, alias="last-event-id"),
    last_event_id: str | None = Query(None, description="Resume after this event id"),
) -> EventSourceResponse:
    """Live events in the caller's scope; resumes after ``Last-Event-ID`` from the event log."""
    after = parse_last_event_id(last_event_id_header, "Last-Event-ID")
    if after is None:
        after = parse_last_event_id(last_event_id, "last_event_id")
    # The log-in check opens a short session of its own: a stream must not hold one.
    subject = await get_subject(request)
    if not subject.can(STREAM_READ):
        raise Forbidden(f"permission {STREAM_READ} required", permission=STREAM_READ)
    bus = getattr(request.app.state, "bus", None) or bus_module.current()
    if bus is None:
        raise Unavailable("the event bus is not running")
    settings = request.app.state.settings
    token = request_token(request)
    req = StreamRequest(subject=subject, last_event_id=after,
                        token_hash=token_hash(token) if token else None)
    shutdown = anyio.Event()
    return EventSourceResponse(
        stream_service.events(request.app.state.sessionmaker, bus, req,
                              queue_size=settings.stream_queue_size,
                              recheck_seconds=settings.stream_recheck_seconds,
                              shutdown=shutdown),
        ping=settings.stream_heartbeat_seconds,
        shutdown_event=shutdown, shutdown_grace_period=2,
    )
