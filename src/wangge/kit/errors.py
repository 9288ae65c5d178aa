"""Domain errors that carry their HTTP status; one handler renders them (see wangge.app)."""

from __future__ import annotations

from typing import Any


class WanggeError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.detail}

    def headers(self) -> dict[str, str]:
        """Response headers the error calls for (e.g. ``WWW-Authenticate``)."""
        return {}


class NotFound(WanggeError):
    status_code = 404
    code = "not_found"


class Unauthorized(WanggeError):
    """No valid session or token; the response asks for a bearer token."""

    status_code = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(WanggeError):
    status_code = 403
    code = "forbidden"


class TooManyRequests(WanggeError):
    """Too many attempts (log-in throttling); the client should wait ``retry_after`` seconds."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int, **detail: Any) -> None:
        super().__init__(message, retry_after=retry_after, **detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Conflict(WanggeError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(WanggeError):
    """An upload over the size limit (nothing of it is stored)."""

    status_code = 413
    code = "payload_too_large"


class InvalidInput(WanggeError):
    """Malformed input; names the field (and file/line for files) and the reason."""

    status_code = 422
    code = "invalid_input"

    def __init__(self, field: str, reason: str, **detail: Any) -> None:
        where = ""
        if "file" in detail:
            where = f"{detail['file']}"
            if "line" in detail:
                where += f", line {detail['line']}"
            where += ": "
        super().__init__(f"{where}{field}: {reason}", field=field, reason=reason, **detail)
