"""Measure each Lambda handler's init from the built packages, side by side with `import boto3`.

    python -m imgdrop.packaging --arch x86_64 --out build/lambda-x86_64
    python -m imgdrop.cold_start --packages build/lambda-x86_64 --runs 5

As on Lambda: every run copies each package afresh into a temporary directory, makes the copy
read-only, and starts a new isolated interpreter (`python3.13 -I -B`, PYTHONDONTWRITEBYTECODE=1)
with only that copy on sys.path. It times, inside that interpreter, the handler module's import
plus its init (`init_thumbnails`, `init_web`, `worker_images`: everything before the first
event is handled); the baseline is `import boto3` from the same copy, run before the handler in
even runs and after it in odd ones, so load on the machine hits both alike. What the web
function makes at first use instead of at init (boto3 clients, page templates, zxcvbn, the
sign-in rate limiter) is then timed in the same interpreter and reported beside the init, so
no cost is hidden by moving it. Prints medians, ratios and sizes; `--check` exits 1 when a
ratio is over its target (thumbnail 2.0x, web 2.5x). CPU ratios (the processes' own CPU
time) are printed too: on a busy machine they move much less than elapsed time does.
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
from typing import Any

from imgdrop.packaging import find_python313, package_size

# What each role's init runs after its import (the baseline imports boto3 only).
INITS = {
    "baseline": "import boto3",
    "thumbnail": "import imgdrop.aws_lambda as m; m.init_thumbnails()",
    "web": "import imgdrop.aws_lambda as m; m.init_web()",
    "failure": "import imgdrop.aws_lambda as m; m.worker_images()",
}
# What a role makes at its first use rather than at init, timed after the init (the import
# or object creation only, not the work a request does with it).
DEFERRED = {
    "web": {
        "boto3 clients": "rt = m.runtime(); rt.images.blobs.s3.client(); rt.users.db.client()",
        "page templates": "from imgdrop.web.pages import templates; templates()",
        "zxcvbn": "import zxcvbn",
        "rate limits": "m.runtime().accounts.signin_limits.hit('192.0.2.1')",
        "openapi models": "from fastapi.openapi.models import OpenAPI; OpenAPI.model_rebuild()",
    },
}
TARGETS = {"thumbnail": 2.0, "web": 2.5}
MARK = "cold-start:"
SNIPPET = """
import json, sys, time
sys.path.insert(0, {root!r})
started, cpu = time.perf_counter(), time.process_time()
{init}
report = {{"init": time.perf_counter() - started, "cpu": time.process_time() - cpu,
          "deferred": {{}}}}
for name, code in {deferred!r}.items():
    started = time.perf_counter()
    exec(code)
    report["deferred"][name] = time.perf_counter() - started
print({mark!r} + json.dumps(report))
"""
# Settings a deployed function has (names only: init makes no AWS call).
LAMBDA_ENV = {
    "IMGDROP_BACKEND": "aws",
    "IMGDROP_S3_BUCKET": "cold-start-images",
    "IMGDROP_DYNAMODB_TABLE": "cold-start-catalog",
    "IMGDROP_USERS_TABLE": "cold-start-users",
    "IMGDROP_SECRET_KEY_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:cold-start",
    "IMGDROP_AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold-start",
    "AWS_SECRET_ACCESS_KEY": "cold-start",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_LAMBDA_FUNCTION_NAME": "imgdrop-cold-start",  # set in every Lambda environment
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


def time_init(python: str, root: Path, role: str) -> tuple[float, float, dict[str, float]]:
    """Seconds for one role's import + init in a new isolated interpreter (elapsed, and CPU
    time: what the process itself used, less skewed by other load on the machine), and for
    each thing it makes at first use instead."""
    steps = DEFERRED.get(role, {})
    code = SNIPPET.format(root=str(root), init=INITS[role], deferred=steps, mark=MARK)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root.parent)}
    run = subprocess.run(
        [python, "-I", "-B", "-c", code],
        env={**env, **LAMBDA_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith(MARK)]
    if run.returncode != 0 or not lines:
        raise RuntimeError(f"{role} init failed in {root}: {run.stderr.strip()[-2000:]}")
    report = json.loads(lines[-1].removeprefix(MARK))
    first_use = {k: float(v) for k, v in report["deferred"].items()}
    return float(report["init"]), float(report["cpu"]), first_use


def measure(packages: Path, runs: int, python: str) -> dict[str, dict[str, Any]]:
    """Median init seconds per role, its package's boto3 baseline, ratio, first-use costs
    and size; `runs` lists every run's (init, baseline) pair."""
    roles = [r for r in ("thumbnail", "web", "failure") if (packages / r).is_dir()]
    times: dict[str, list[tuple[float, float, float, float]]] = {r: [] for r in roles}
    deferred: dict[str, list[dict[str, float]]] = {r: [] for r in roles}
    for run in range(runs):
        for role in roles:
            with tempfile.TemporaryDirectory() as tmp:
                root = read_only_copy(packages / role, Path(tmp))
                order = ("baseline", role) if run % 2 == 0 else (role, "baseline")
                timed = {name: time_init(python, root, name) for name in order}
                (init, init_cpu, first_use), (base, base_cpu, _) = timed[role], timed["baseline"]
                times[role].append((init, base, init_cpu, base_cpu))
                deferred[role].append(first_use)
                _restore_write(Path(tmp))
    return {role: _summary(packages / role, role, times[role], deferred[role]) for role in roles}


def _summary(
    root: Path,
    role: str,
    times: list[tuple[float, float, float, float]],
    deferred: list[dict[str, float]],
) -> dict[str, Any]:
    """One role's medians, ratios (elapsed and CPU), first-use medians and size."""
    median, baseline, cpu, cpu_baseline = (statistics.median(t[i] for t in times) for i in range(4))
    first_use = {k: round(statistics.median(d[k] for d in deferred), 3) for k in deferred[0]}
    return {
        "init_s": round(median, 3),
        "boto3_s": round(baseline, 3),
        "ratio": round(median / baseline, 2),
        "target": TARGETS.get(role, 0.0),
        "cpu_s": round(cpu, 3),
        "boto3_cpu_s": round(cpu_baseline, 3),
        "cpu_ratio": round(cpu / cpu_baseline, 2),
        "first_use_s": first_use,
        "unzipped_mb": round(package_size(root) / 2**20, 1),
        "runs": [[round(t, 3), round(b, 3)] for t, b, _, _ in times],
    }


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
        print(table(report))
    missed = [k for k, r in report.items() if r["target"] and r["ratio"] > r["target"]]
    return 1 if args.check and missed else 0


def table(report: dict[str, dict[str, Any]]) -> str:
    """The report as text: one row per role, then its first-use costs and every run."""
    lines = ["role       init (s)  import boto3 (s)  ratio  target  CPU ratio  unzipped (MB)"]
    for role, r in report.items():
        target = f"{r['target']:.1f}x" if r["target"] else "-"
        lines.append(
            f"{role:<10} {r['init_s']:>8.3f}  {r['boto3_s']:>16.3f}  {r['ratio']:>4.2f}x"
            f"  {target:>6}  {r['cpu_ratio']:>8.2f}x  {r['unzipped_mb']:>13.1f}"
        )
    for role, r in report.items():
        runs = ", ".join(f"{t:.3f}/{b:.3f} ({t / b:.2f}x)" for t, b in r["runs"])
        lines.append(f"{role} runs (init/boto3 s): {runs}")
        if r["first_use_s"]:
            parts = ", ".join(f"{k} {v:.3f}" for k, v in r["first_use_s"].items())
            total = sum(r["first_use_s"].values())
            lines.append(f"{role} made at first use instead (s): {parts} (total {total:.3f})")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
