"""Run a coroutine to completion from a synchronous test, whatever loop the test thread has.

pytest-playwright's sync API keeps an asyncio loop running on the main thread for the whole
session once a browser test has run, so a plain `asyncio.run` in any later test raises
"cannot be called from a running event loop". A private thread gives each call its own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 300) -> T:
    """Run `coro` on a fresh event loop in its own thread and return (or raise) its result."""
    with ThreadPoolExecutor(1, thread_name_prefix="run-async") as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout)
