"""FastAPI plumbing shared by every domain: session and subject dependencies, error responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject
from wangge.kit.errors import WanggeError


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; the request boundary commits (services only flush)."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_read_subject(request: Request) -> Subject:
    # Filled by the access issue (#3): the logged-in subject's post prefixes.
    return Subject.everything()


Session = Annotated[AsyncSession, Depends(get_session)]
ReadSubject = Annotated[Subject, Depends(get_read_subject)]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found (or outside the caller's scope)"},
    422: {"description": "Malformed input; the body names the field and the reason"},
}


def error_body(exc: WanggeError) -> dict[str, Any]:
    return exc.to_dict()
