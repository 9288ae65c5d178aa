"""The FastAPI application: API routers, pages, static files, one error handler."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from wangge import __version__
from wangge.admin.endpoints import router as accounts_router
from wangge.audit import tasks as audit_tasks  # noqa: F401  (registers the sealer)
from wangge.audit.endpoints import router as audit_router
from wangge.audit.pages import router as audit_pages_router
from wangge.auth.endpoints import router as auth_router
from wangge.auth.pages import is_page_request, login_redirect, no_post_page
from wangge.auth.pages import router as auth_pages_router
from wangge.cases import tasks as case_tasks  # noqa: F401  (registers the deadline sweep)
from wangge.cases.endpoints import router as cases_router
from wangge.cases.pages import router as cases_pages_router
from wangge.config import PACKAGE_ROOT, Settings, get_settings
from wangge.directives import tasks as directive_tasks  # noqa: F401  (registers the sweep)
from wangge.directives.endpoints import router as directives_router
from wangge.directives.pages import router as directives_pages_router
from wangge.geo.endpoints import router as grids_router
from wangge.kit import bus, scheduler
from wangge.kit.db import create_direct_pool, create_engine, create_sessionmaker
from wangge.kit.errors import NotFound, Unauthorized, WanggeError
from wangge.kit.web import Session
from wangge.org.endpoints import router as regions_router
from wangge.registry.endpoints import router as registry_router
from wangge.registry.pages import router as registry_pages_router
from wangge.registry.visit_pages import router as visit_pages_router
from wangge.stream.endpoints import router as stream_router
from wangge.web.pages import router as pages_router

# A validator of a whole body names its field in the message ("location: give ..."): its
# error has no field in ``loc``.
_NAMED_FIELD = re.compile(r"^Value error, ([A-Za-z_][\w.]*): (.+)$", re.DOTALL)


def _field_error(error: Any) -> dict[str, str]:
    field = ".".join(str(p) for p in error["loc"] if p not in ("body", "query", "path"))
    reason = str(error["msg"])
    named = None if field else _NAMED_FIELD.match(reason)
    if named:
        return {"field": named.group(1), "reason": named.group(2)}
    return {"field": field, "reason": reason}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.direct_pool = direct = create_direct_pool(settings.database_url)
        if direct is not None:
            await direct.open()
        app.state.bus = await bus.start(
            bus.create_backend(settings.bus, settings.database_url, settings.redis_url))
        jobs = None
        if settings.scheduler and scheduler.registry.jobs:
            jobs = await scheduler.Scheduler(engine).start()
        app.state.scheduler = jobs
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            # Ends every open stream first, so clients reconnect (and replay) elsewhere.
            if jobs is not None:
                await jobs.stop()
            await bus.stop(app.state.bus)
            if direct is not None:
                await direct.close()
            await engine.dispose()

    app = FastAPI(title="Wangge 网格", version=__version__, lifespan=lifespan)
    app.state.settings = settings

    @app.exception_handler(WanggeError)
    async def _domain_error(request: Request, exc: WanggeError) -> Response:
        if is_page_request(request):
            if isinstance(exc, Unauthorized):
                return login_redirect(request)
            if isinstance(exc, NotFound) and (page := no_post_page(request)) is not None:
                return page
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        first = errors[0] if errors else {"field": "request", "reason": "invalid"}
        return JSONResponse(
            {"error": "invalid_input", "message": f"{first['field']}: {first['reason']}",
             "field": first["field"], "reason": first["reason"], "errors": errors},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse({"error": code, "message": str(exc.detail)},
                            status_code=exc.status_code)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (no database, no other I/O)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["ops"])
    async def readyz(session: Session) -> dict[str, str]:
        """Readiness: the database answers too."""
        await session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    app.include_router(auth_router)
    app.include_router(auth_pages_router)
    app.include_router(accounts_router)
    app.include_router(regions_router)
    app.include_router(grids_router)
    app.include_router(pages_router)
    app.include_router(audit_router)
    app.include_router(audit_pages_router)
    app.include_router(stream_router)
    app.include_router(cases_router)
    app.include_router(cases_pages_router)
    app.include_router(directives_router)
    app.include_router(directives_pages_router)
    app.include_router(registry_router)
    app.include_router(visit_pages_router)
    app.include_router(registry_pages_router)
    app.mount("/static", StaticFiles(directory=PACKAGE_ROOT / "web" / "static"), name="static")
    return app
