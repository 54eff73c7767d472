"""Runs the thumbnail engine in worker processes (IMGDROP_WORKERS, default one per core); a
crash stays contained."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from imgdrop.core.errors import InvalidImage, TransientError
from imgdrop.engine.limits import Limits
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.results import Thumbnails

log = logging.getLogger("imgdrop.worker")
# Fresh processes after this many images cap any slow growth of the C heap.
TASKS_PER_CHILD = 200
PARENT_CHECK_S = 1.0
M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _init_child(server_pid: int) -> None:
    # Fewer glibc arenas keep RSS flat. glibc reads MALLOC_ARENA_MAX only as the process starts
    # (too late to set it here), so set the same limit with mallopt, before libvips allocates.
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)
    threading.Thread(
        target=_exit_with_parent, args=(server_pid,), daemon=True, name="imgdrop-parent-watch"
    ).start()


def _exit_with_parent(parent_pid: int) -> None:
    # A SIGKILLed server cannot stop its pool, and a child never sees EOF on the call queue
    # (it holds the write end too), so it would live on as an orphan: leave with the parent.
    # The pid comes from the parent: a child still starting when the kill came has ppid 1.
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


class ProcessPoolEngine:
    """A callable with the engine's signature that runs it in a process pool."""

    def __init__(self, processes: int, timeout_s: float = 120.0) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server process has threads (uvicorn, worker loops).
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=(os.getpid(),),
            max_tasks_per_child=TASKS_PER_CHILD,
        )

    def __call__(self, data: bytes, widths: Sequence[int], limits: Limits) -> Thumbnails:
        """make_thumbnails in a child process; a crashed child is a transient error."""
        with self._lock:
            pool = self._pool
        future = pool.submit(make_thumbnails, data, tuple(widths), limits)
        try:
            return future.result(timeout=self.timeout_s)
        except BrokenProcessPool:
            self._replace(pool)
            raise TransientError("the image decoder process crashed") from None
        except FutureTimeout:
            self._replace(pool, kill=True)
            raise InvalidImage(f"the image took over {self.timeout_s:.0f} s to process") from None

    def _replace(self, broken: ProcessPoolExecutor, kill: bool = False) -> None:
        with self._lock:
            if self._pool is not broken:
                return
            log.warning("restarting the thumbnail process pool")
            if kill:
                for proc in list(getattr(broken, "_processes", {}).values()):
                    proc.kill()
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()

    def close(self) -> None:
        """Stop the children."""
        self._pool.shutdown(wait=True, cancel_futures=True)
