"""`imgdrop serve`, but the worker processes run tests/security/stub_engine.py's engine.

Usage: python -m tests.security.stub_serve --port N --data-dir DIR (settings from IMGDROP_*).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from imgdrop.adapters.local.engine_pool import ProcessPoolEngine
from imgdrop.settings import load_settings
from imgdrop.web.app import create_app
from imgdrop.wiring import build_local
from tests.security.stub_engine import misbehaving_engine


def main() -> None:
    """Serve on loopback with the stub engine in the real process pool."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings(port=args.port, data_dir=args.data_dir)
    logging.basicConfig(level=settings.log_level.upper())
    engine = ProcessPoolEngine(
        settings.workers,
        settings.job_timeout_s,
        settings.worker_memory_bytes,
        engine=misbehaving_engine,
    )
    runtime = build_local(settings, engine=engine)
    runtime.closers.insert(2, engine.close)  # after the worker stops, before the database
    runtime.start()
    print(f"imgdrop (stub engine) is running at {settings.base_url}/", flush=True)
    try:
        uvicorn.run(create_app(runtime), host="127.0.0.1", port=args.port, log_level="warning")
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
