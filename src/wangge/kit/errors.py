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


class NotFound(WanggeError):
    status_code = 404
    code = "not_found"


class Forbidden(WanggeError):
    status_code = 403
    code = "forbidden"


class Conflict(WanggeError):
    status_code = 409
    code = "conflict"


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
