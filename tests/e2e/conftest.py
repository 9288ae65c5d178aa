"""Browser-test fixtures: the live server and one Chromium for the session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.support import CHROMIUM, CHROMIUM_ARGS, ServerThread, require_chromium

from wangge.config import Settings


@pytest.fixture(scope="module")
def live_server(xinxiang: str) -> Iterator[ServerThread]:
    """The app on a free port over the ``xinxiang`` DB (tests pin it to SQLite, see below)."""
    require_chromium()
    with ServerThread(Settings(database_url=xinxiang)) as server:
        yield server


# Module scope on purpose: Playwright's sync API marks an event loop as running in the main
# thread while it is open, which would break later tests that run their own loop.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
