"""Run the local worker over a data dir until the queue is drained, dying at a named crash point.

    CRASH_POINT=thumb_written CRASH_AT=3 python tests/faults/crash_runner.py DATA_DIR

Crash points (the process calls os._exit(137), like a SIGKILL: no cleanup, no flush):
  read_original     right after the original's bytes were read
  thumb_written     right after a thumbnail object was stored (CRASH_AT counts every write)
  before_mark_done  just before the catalog's conditional status update
  after_mark_done   just after it (the job is still in the queue)
CRASH_AT=n crashes at the n-th time the point is reached (across worker threads). Without
CRASH_POINT the runner drains the queue and exits 0. No test hook lives in production code: the
blob store and catalog are wrapped here, around what `build_local` wires.

`crash_runner.py --serve` reads lines `DATA_DIR POINT AT` (POINT `-` for none) from stdin and
answers each with the exit code of a forked child that does one run: the imports are paid once,
and each run is still a separate process that dies without any clean-up.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.settings import load_settings
from imgdrop.wiring import build_local

CRASH_EXIT = 137


class Trip:
    """Dies at the CRASH_AT-th arrival at CRASH_POINT."""

    def __init__(self, point: str, at: int) -> None:
        self.point = point
        self.at = at
        self.seen = 0
        self.lock = threading.Lock()

    def __call__(self, point: str) -> None:
        """Count an arrival at `point`; die if it is the chosen one."""
        if point != self.point:
            return
        with self.lock:
            self.seen += 1
            if self.seen == self.at:
                os._exit(CRASH_EXIT)


class CrashingBlobs:
    """Proxy of the blob store that trips after reading an original and after thumbnail writes."""

    def __init__(self, inner: Any, trip: Trip) -> None:
        self._inner = inner
        self._trip = trip

    def get(self, key: str) -> bytes:
        data: bytes = self._inner.get(key)
        if key.startswith("uploads/"):
            self._trip("read_original")
        return data

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._inner.put(key, data, content_type)
        if key.startswith("thumbnails/"):
            self._trip("thumb_written")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CrashingCatalog:
    """Proxy of the catalog that trips around the conditional `mark_done`."""

    def __init__(self, inner: Any, trip: Trip) -> None:
        self._inner = inner
        self._trip = trip

    def mark_done(self, *args: Any) -> None:
        self._trip("before_mark_done")
        self._inner.mark_done(*args)
        self._trip("after_mark_done")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def main(data_dir: Path, trip: Trip) -> int:
    """Drain the queue (recovering what an earlier crash left); 0 when idle, 1 on timeout."""
    settings = load_settings({}, data_dir=data_dir, workers=2, log_level="warning")
    runtime = build_local(settings, engine=make_thumbnails)
    runtime.images.blobs = CrashingBlobs(runtime.images.blobs, trip)  # type: ignore[assignment]
    runtime.images.catalog = CrashingCatalog(runtime.images.catalog, trip)  # type: ignore[assignment]
    try:
        runtime.start()
        return 0 if runtime.worker.wait_idle(float(os.environ.get("RUNNER_TIMEOUT_S", "30"))) else 1
    finally:
        runtime.close()


def serve() -> None:
    """One forked run per stdin line; the parent never starts a thread, so fork is safe."""
    for line in sys.stdin:
        data_dir, point, at = line.split()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 2
            try:
                code = main(Path(data_dir), Trip("" if point == "-" else point, int(at)))
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        serve()
    else:
        point, at = os.environ.get("CRASH_POINT", ""), int(os.environ.get("CRASH_AT", "1"))
        sys.exit(main(Path(sys.argv[1]), Trip(point, at)))
