"""Build the Lambda deployment package: `python -m imgdrop.packaging --arch arm64 --out DIR`.

The package is a directory (and optionally a .zip) holding imgdrop and its runtime dependencies
(no dev dependencies, at the versions uv.lock pins) as manylinux wheels for the target
architecture and Python 3.13, installed by `uv pip install --target`. pyvips-binary, pillow and
pillow-heif ship manylinux_2_28 wheels for both architectures; pyvips itself is an sdist that
builds as pure Python (cffi ABI mode). Every installed wheel's tags are then checked, so a build
that compiled something for this machine instead of the target fails loudly rather than at the
first cold start.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PLATFORMS = {"arm64": "aarch64-manylinux_2_28", "x86_64": "x86_64-manylinux_2_28"}
PYTHON_VERSION = "3.13"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def build_package(
    arch: str, out: Path, project: Path = PROJECT_ROOT, make_zip: bool = False
) -> Path:
    """Build the package for `arch` into `out` (replaced); returns `out` or the .zip path."""
    if arch not in PLATFORMS:
        raise ValueError(f"arch must be one of {', '.join(PLATFORMS)}")
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to build the Lambda package (https://docs.astral.sh/uv/)")
    if out.exists():
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [uv, "build", "--wheel", "--out-dir", tmp, str(project)],
            check=True,
            capture_output=True,
        )
        wheel = next(Path(tmp).glob("imgdrop-*.whl"))
        # The versions uv.lock pins (the ones the tests ran with), not a fresh resolution.
        pinned = Path(tmp) / "requirements.txt"
        subprocess.run(
            [
                *(uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--quiet"),
                *("--project", str(project), "--output-file", str(pinned)),
            ],
            check=True,
            capture_output=True,
        )
        target = ["--quiet", "--target", str(out), "--python-platform", PLATFORMS[arch]]
        target += ["--python-version", PYTHON_VERSION]
        subprocess.run([uv, "pip", "install", *target, "-r", str(pinned)], check=True)
        subprocess.run([uv, "pip", "install", *target, "--no-deps", str(wheel)], check=True)
    _strip(out)
    check_wheel_tags(out, arch)
    if make_zip:
        return Path(shutil.make_archive(str(out), "zip", out))
    return out


def check_wheel_tags(root: Path, arch: str) -> None:
    """Raise unless every installed wheel is pure Python or built for `arch` and CPython 3.13."""
    machine = PLATFORMS[arch].split("-")[0]
    wrong = []
    for wheel_file in root.glob("*.dist-info/WHEEL"):
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel_file.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        ok = any(
            t.endswith("-none-any")
            or (machine in t.rsplit("-", 1)[-1] and t.split("-")[1] in {"abi3", "cp313"})
            for t in tags
        )
        if not ok:
            wrong.append(f"{wheel_file.parent.name}: {', '.join(tags)}")
    if wrong:
        raise RuntimeError("wheels not built for the target: " + "; ".join(wrong))


def _strip(root: Path) -> None:
    """Drop what Lambda never runs: console scripts and bytecode of the build machine's Python
    (uv would compile for the interpreter running it, not for the target 3.13)."""
    shutil.rmtree(root / "bin", ignore_errors=True)
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: --arch arm64|x86_64 --out DIR [--zip]."""
    parser = argparse.ArgumentParser(prog="python -m imgdrop.packaging", description=__doc__)
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default build/lambda-ARCH)"
    )
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip")
    args = parser.parse_args(argv)
    out = args.out or Path("build") / f"lambda-{args.arch}"
    try:
        built = build_package(args.arch, out, make_zip=args.zip)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"imgdrop-package: {exc}", file=sys.stderr)
        return 1
    print(built)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
