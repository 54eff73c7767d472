"""Two builds' web (or other role's) init, interleaved in one run, beside `import boto3`.

    git archive OLD | tar -x -C /tmp/old && (cd /tmp/old && uv run --frozen \\
        python -m imgdrop.packaging --arch x86_64 --out /tmp/old/build/lambda-x86_64)
    uv run python bench/cold_start_against.py /tmp/old/build/lambda-x86_64 \\
        build/lambda-x86_64 --runs 7 [--role web]

Each run copies both packages afresh (read-only, as `python -m imgdrop.cold_start` does) and
times `import boto3` from the new one, the old build's init, then the new build's init and
what it makes at first use instead, so load on the machine hits all three alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from imgdrop import cold_start
from imgdrop.packaging import find_python313


def one_run(python: str, old: Path, new: Path) -> tuple[float, float, float, float]:
    """(boto3, old init, new init, new first-use total) seconds, from fresh copies."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "old").mkdir()
        (Path(tmp) / "new").mkdir()
        old_root = cold_start.read_only_copy(old, Path(tmp) / "old")
        new_root = cold_start.read_only_copy(new, Path(tmp) / "new")
        role = new.name
        try:
            base = cold_start.time_init(python, new_root, "baseline")[0]
            saved, cold_start.DEFERRED = cold_start.DEFERRED, {}  # the old build has no such parts
            try:
                before = cold_start.time_init(python, old_root, role)[0]
            finally:
                cold_start.DEFERRED = saved
            after, _, first_use = cold_start.time_init(python, new_root, role)
        finally:
            cold_start._restore_write(Path(tmp))
    return base, before, after, sum(first_use.values())


def main() -> None:
    """Command line: OLD_PACKAGES NEW_PACKAGES [--runs N] [--role ROLE]."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--role", default="web")
    args = parser.parse_args()
    python = find_python313()
    rows = []
    for run in range(args.runs):
        base, before, after, extra = one_run(python, args.old / args.role, args.new / args.role)
        rows.append((base, before, after, extra))
        print(
            f"run {run}: boto3 {base:.3f}  old {before:.3f} ({before / base:.2f}x)  "
            f"new {after:.3f} ({after / base:.2f}x) + first use {extra:.3f}",
            flush=True,
        )
    base, before, after, extra = (statistics.median(r[i] for r in rows) for i in range(4))
    print(
        f"median: boto3 {base:.3f}  old {before:.3f} ({before / base:.2f}x)  new {after:.3f} "
        f"({after / base:.2f}x)  new init + first use {after + extra:.3f} "
        f"({(after + extra) / base:.2f}x)"
    )


if __name__ == "__main__":
    main()
