"""Helpers for CLI commands: run a coroutine against the configured database, progress bars."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich import progress as rich_progress
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from wangge.config import get_settings
from wangge.kit.db import create_engine
from wangge.kit.errors import WanggeError

T = TypeVar("T")
# A callback that long jobs call with how many more items they have done.
Progress = Callable[[int], None]
console = Console(stderr=True)


def run_sync(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine to completion from synchronous code.

    When this thread already runs an event loop (a notebook, an async test runner), the coroutine
    gets a fresh loop in a worker thread instead of failing.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


def run_with_engine(work: Callable[[AsyncEngine], Awaitable[T]], url: str | None = None) -> T:
    """Runs ``work(engine)``; a domain error becomes one line on stderr and exit code 2."""

    async def main() -> T:
        engine = create_engine(url or get_settings().database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return run_sync(main)
    except WanggeError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(2) from None


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr; yields ``advance(n)``."""
    with rich_progress.Progress(
        rich_progress.TextColumn("{task.description}"), rich_progress.BarColumn(),
        rich_progress.MofNCompleteColumn(), rich_progress.TimeElapsedColumn(),
        console=console, transient=False,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
