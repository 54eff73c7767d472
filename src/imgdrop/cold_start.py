"""Measure each Lambda handler's init from the built packages, side by side with `import boto3`.

    python -m imgdrop.packaging --arch x86_64 --out build/lambda-x86_64
    python -m imgdrop.cold_start --packages build/lambda-x86_64 --runs 5

As on Lambda: every run copies each package afresh into a temporary directory, makes the copy
read-only, and starts a new isolated interpreter (`python3.13 -I -B`, PYTHONDONTWRITEBYTECODE=1)
with only that copy on sys.path. It times, inside that interpreter, the handler module's import
plus its init (`init_thumbnails`, `init_web`, `worker_images`: everything before the first
event is handled); the baseline is `import boto3` from the same copy. Baseline and handler
runs alternate so load on the machine hits both alike. Prints medians, ratios and sizes;
`--check` exits 1 when a ratio is over its target (thumbnail 2.0x, web 2.5x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from imgdrop.packaging import find_python313, package_size

# What each role's init runs after its import (the baseline imports boto3 only).
INITS = {
    "baseline": "import boto3",
    "thumbnail": "import imgdrop.aws_lambda as m; m.init_thumbnails()",
    "web": "import imgdrop.aws_lambda as m; m.init_web()",
    "failure": "import imgdrop.aws_lambda as m; m.worker_images()",
}
TARGETS = {"thumbnail": 2.0, "web": 2.5}
SNIPPET = """
import sys, time
sys.path.insert(0, {root!r})
started = time.perf_counter()
{init}
print(time.perf_counter() - started)
"""
# Settings a deployed function has (names only: init makes no AWS call).
LAMBDA_ENV = {
    "IMGDROP_BACKEND": "aws",
    "IMGDROP_S3_BUCKET": "cold-start-images",
    "IMGDROP_DYNAMODB_TABLE": "cold-start-catalog",
    "IMGDROP_USERS_TABLE": "cold-start-users",
    "IMGDROP_AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold-start",
    "AWS_SECRET_ACCESS_KEY": "cold-start",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def read_only_copy(package: Path, into: Path) -> Path:
    """A fresh copy of `package` with every write bit removed (like /var/task)."""
    copy = into / package.name
    shutil.copytree(package, copy, symlinks=True)
    no_write = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    for path in [*copy.rglob("*"), copy]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & no_write)
    return copy


def time_init(python: str, root: Path, role: str) -> float:
    """Seconds for one role's import + init in a new isolated interpreter."""
    code = SNIPPET.format(root=str(root), init=INITS[role])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root.parent)}
    run = subprocess.run(
        [python, "-I", "-B", "-c", code],
        env={**env, **LAMBDA_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"{role} init failed in {root}: {run.stderr.strip()[-2000:]}")
    return float(run.stdout.strip().splitlines()[-1])


def measure(packages: Path, runs: int, python: str) -> dict[str, dict[str, float]]:
    """Median init seconds per role, its package's boto3 baseline, ratio and size."""
    roles = [r for r in ("thumbnail", "web", "failure") if (packages / r).is_dir()]
    times: dict[str, list[float]] = {r: [] for r in roles}
    base: dict[str, list[float]] = {r: [] for r in roles}
    for _ in range(runs):
        for role in roles:
            with tempfile.TemporaryDirectory() as tmp:
                root = read_only_copy(packages / role, Path(tmp))
                base[role].append(time_init(python, root, "baseline"))
                times[role].append(time_init(python, root, role))
                _restore_write(Path(tmp))
    report = {}
    for role in roles:
        median, baseline = statistics.median(times[role]), statistics.median(base[role])
        report[role] = {
            "init_s": round(median, 3),
            "boto3_s": round(baseline, 3),
            "ratio": round(median / baseline, 2),
            "target": TARGETS.get(role, 0.0),
            "unzipped_mb": round(package_size(packages / role) / 2**20, 1),
        }
    return report


def _restore_write(tmp: Path) -> None:
    """Give the copy its write bits back so the temporary directory can be removed."""
    for path in [*tmp.rglob("*"), tmp]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def main(argv: list[str] | None = None) -> int:
    """Command line: --packages DIR [--runs N] [--python PATH] [--json] [--check]."""
    parser = argparse.ArgumentParser(
        prog="python -m imgdrop.cold_start",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--packages", type=Path, default=Path("build/lambda-x86_64"))
    parser.add_argument("--runs", type=int, default=5, help="runs per role (median; >= 5)")
    parser.add_argument("--python", default=None, help="Python 3.13 (default: found on PATH)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    try:
        report = measure(args.packages, max(1, args.runs), args.python or find_python313())
    except RuntimeError as exc:
        print(f"cold-start: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("role       init (s)  import boto3 (s)  ratio  target  unzipped (MB)")
        for role, r in report.items():
            target = f"{r['target']:.1f}x" if r["target"] else "-"
            print(
                f"{role:<10} {r['init_s']:>8.3f}  {r['boto3_s']:>16.3f}  {r['ratio']:>4.2f}x"
                f"  {target:>6}  {r['unzipped_mb']:>13.1f}"
            )
    missed = [k for k, r in report.items() if r["target"] and r["ratio"] > r["target"]]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
