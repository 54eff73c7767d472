"""Runs the thumbnail engine in worker processes (IMGDROP_WORKERS, default one per core), one
job per process at a time, each under a time budget and a memory ceiling.

A job over its budget or ceiling kills only its own process (the others keep their jobs), the
image ends `failed`, and a fresh process takes the dead one's place. The ceiling is held twice:
in the child, an address-space rlimit of (its size once the engine is loaded + the ceiling)
makes libheif/libvips fail the allocation itself (measured: a 10 KB AVIF grid that decodes to
236 MP peaks at 1.16 GB and takes 14.6 s without it, and fails in 0.24 s at 134 MB with it,
while a 24 MP JPEG still works); and the parent samples the child's resident memory while it
waits and kills it over the ceiling, for whatever allocates without failing cleanly.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

import psutil

from imgdrop.core.errors import ImgdropError, InvalidImage, TransientError
from imgdrop.engine.limits import Limits
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.results import Thumbnails

log = logging.getLogger("imgdrop.worker")
# Fresh processes after this many images cap any slow growth of the C heap.
TASKS_PER_CHILD = 200
PARENT_CHECK_S = 1.0
SAMPLE_S = 0.02  # how often the parent looks at a busy child's memory and clock
# A child's start-up (importing libvips) is not part of any job's time budget, but is bounded.
START_TIMEOUT_S = 120.0
READY = "ready"
M_ARENA_MAX = -8  # glibc's mallopt parameter number
EngineFn = Callable[[bytes, Sequence[int], Limits], Thumbnails]


def _init_child(server_pid: int) -> None:
    # Fewer glibc arenas keep RSS flat. glibc reads MALLOC_ARENA_MAX only as the process starts
    # (too late to set it here), so set the same limit with mallopt, before libvips allocates.
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)
    threading.Thread(
        target=_exit_with_parent, args=(server_pid,), daemon=True, name="imgdrop-parent-watch"
    ).start()


def _exit_with_parent(parent_pid: int) -> None:
    # A SIGKILLed server cannot stop its children, so they would live on as orphans: leave
    # with the parent. The pid comes from the parent: a child still starting has ppid 1.
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _limit_address_space(memory_bytes: int) -> None:
    # On top of what is mapped now (interpreter, libvips, libheif): the ceiling is for work.
    with contextlib.suppress(ValueError, OSError, psutil.Error):
        mapped = psutil.Process().memory_info().vms
        resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_bytes, mapped + memory_bytes))


def _serve(conn: Connection, server_pid: int, engine: EngineFn, memory_bytes: int) -> None:
    """The child's loop: "ready" once, then one (data, widths, limits) in, one (ok, result or
    error) out per job, until the parent hangs up."""
    _init_child(server_pid)
    _limit_address_space(memory_bytes)
    try:
        conn.send(READY)
        while True:
            data, widths, limits = conn.recv()
            conn.send(_run(engine, data, widths, limits, memory_bytes))
    except (EOFError, OSError):  # the parent closed its end, or is gone: done
        return


def _run(
    engine: EngineFn, data: bytes, widths: Sequence[int], limits: Limits, memory_bytes: int
) -> tuple[bool, Any]:
    try:
        return (True, engine(data, widths, limits))
    except ImgdropError as exc:
        return (False, exc)
    except MemoryError:  # the address-space ceiling refused an allocation
        return (False, InvalidImage(_too_much_memory(memory_bytes)))
    except Exception as exc:  # sent back as a message: arbitrary exceptions may not pickle
        return (False, RuntimeError(f"{type(exc).__name__}: {exc}"))


class EngineProcess:
    """One spawned child running the engine, busy with at most one job."""

    def __init__(self, engine: EngineFn, memory_bytes: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # the server has threads: never fork
        self.conn, child_end = ctx.Pipe()
        self.proc: SpawnProcess = ctx.Process(
            target=_serve, args=(child_end, os.getpid(), engine, memory_bytes), daemon=True
        )
        self.proc.start()
        child_end.close()
        self.tasks = 0
        self.ready = False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.conn.poll(SAMPLE_S * 5):
            if not self.proc.is_alive() or time.monotonic() > deadline:
                self.kill()
                raise TransientError("the image decoder process did not start")
        try:
            self.ready = self.conn.recv() == READY
        except (EOFError, OSError):
            raise TransientError("the image decoder process did not start") from None

    def run(self, payload: tuple[Any, ...], timeout_s: float, memory_bytes: int) -> Any:
        """Send one job and wait for its reply, killing the child past the budget or ceiling."""
        if not self.ready:
            self._wait_ready()
        self.tasks += 1
        self.conn.send(payload)
        deadline = time.monotonic() + timeout_s
        watched = psutil.Process(self.proc.pid)
        while not self.conn.poll(SAMPLE_S):
            if not self.proc.is_alive():
                raise TransientError("the image decoder process crashed")
            if _rss(watched) > memory_bytes:
                self.kill()
                raise InvalidImage(_too_much_memory(memory_bytes))
            if time.monotonic() > deadline:
                self.kill()
                raise InvalidImage(f"the image took over {timeout_s:g} s to process")
        try:
            ok, value = self.conn.recv()
        except (EOFError, OSError):
            raise TransientError("the image decoder process crashed") from None
        if not ok:
            raise value
        return value

    def kill(self) -> None:
        """End the child now (it may be deep inside a C decoder)."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def close(self) -> None:
        """Ask the child to exit (EOF on its pipe), then make sure it did."""
        self.conn.close()
        self.proc.join(5)
        if self.proc.is_alive():
            self.kill()


def _too_much_memory(memory_bytes: int) -> str:
    return f"the image needs more than {memory_bytes // 2**20} MB of memory to process"


def _rss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:  # gone already: the poll loop sees it next
        return 0


class ProcessPoolEngine:
    """A callable with the engine's signature that runs it in one of `processes` children."""

    def __init__(
        self,
        processes: int,
        timeout_s: float = 15.0,
        memory_bytes: int = 640 * 2**20,
        engine: EngineFn = make_thumbnails,
    ) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.engine = engine
        self._slots = threading.BoundedSemaphore(processes)
        self._lock = threading.Lock()
        self._closed = False
        # Started now, so their imports overlap the server's start-up.
        self._idle = [EngineProcess(engine, memory_bytes) for _ in range(processes)]

    def __call__(self, data: bytes, widths: Sequence[int], limits: Limits) -> Thumbnails:
        """make_thumbnails in a child; a killed or crashed child is replaced, alone."""
        with self._slots:
            child = self._take()
            healthy = False
            try:
                result: Thumbnails = child.run(
                    (data, tuple(widths), limits), self.timeout_s, self.memory_bytes
                )
                healthy = True
                return result
            except ImgdropError as exc:
                # An engine refusal leaves the child fine; a kill or crash does not.
                healthy = child.proc.is_alive() and not isinstance(exc, TransientError)
                raise
            except RuntimeError:
                healthy = True  # an unexpected error inside the engine, reported by the child
                raise
            finally:
                self._give_back(child, healthy)

    def _take(self) -> EngineProcess:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return EngineProcess(self.engine, self.memory_bytes)

    def _give_back(self, child: EngineProcess, healthy: bool) -> None:
        if not healthy or child.tasks >= TASKS_PER_CHILD:
            child.close()
            child = EngineProcess(
                self.engine, self.memory_bytes
            )  # the replacement starts importing now
            log.info("replaced a thumbnail worker process")
        with self._lock:
            if not self._closed:
                self._idle.append(child)
                return
        child.close()

    def close(self) -> None:
        """Stop the idle children (busy ones stop when their job returns)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()
