"""Build the Lambda packages: `python -m imgdrop.packaging --arch arm64 --out build/lambda-arm64`.

One package per function role, each holding imgdrop and only the distributions its handler
imports (at the versions uv.lock pins), as manylinux wheels for the target architecture and
Python 3.13, installed by `uv pip install --target`:

    OUT/web        the web app: FastAPI, Mangum, argon2, boto3; no pyvips, Pillow or pillow-heif
    OUT/thumbnail  the thumbnail and sweeper functions: pyvips, Pillow, pillow-heif, boto3;
                   no FastAPI, pydantic or Mangum
    OUT/failure    the failure-queue consumer: boto3 only

Each package is then trimmed (botocore's models of the services it never calls, console
scripts, imgdrop's CLI-only modules) and compiled to bytecode by a Python 3.13 interpreter with
unchecked hashes: Lambda's /var/task is read-only, so uncompiled modules would be compiled again
at every cold start, and a zip's 2-second timestamps would make timestamp-checked bytecode look
stale. Every installed wheel's tags are checked, and every package's unzipped size is bounded.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PLATFORMS = {"arm64": "aarch64-manylinux_2_28", "x86_64": "x86_64-manylinux_2_28"}
PYTHON_VERSION = "3.13"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MAX_UNZIPPED_BYTES = 80 * 1024 * 1024  # Lambda allows 250 MB; smaller loads faster
BOTOCORE_SERVICES = ("s3", "dynamodb", "sts", "secretsmanager")
# sts: the SDK's credential chain may call it; secretsmanager: the web app's device-token key.
# Modules no Lambda handler imports (the CLI, the HTTP uploader, benchmarks).
CLI_ONLY = ("cli.py", "uploader.py", "offline.py", "bench.py", "bench_contenders.py")


@dataclass(frozen=True)
class Role:
    """A function role's package: the project dependencies it installs, what it may not hold,
    imgdrop modules it drops (`drop`) and installed paths it never imports (`prune`)."""

    requirements: tuple[str, ...]
    forbidden: tuple[str, ...]
    drop: tuple[str, ...] = ()
    prune: tuple[str, ...] = ()


# zxcvbn: password strength; limits: sign-in and upload rate limits.
WEB_REQUIREMENTS: tuple[str, ...] = ("boto3", "fastapi", "python-multipart", "jinja2")
WEB_REQUIREMENTS += ("argon2-cffi", "python-ulid", "mangum", "zxcvbn", "limits")
ENGINE = ("pyvips", "pyvips-binary", "pillow", "pillow-heif", "thumbhash")
ROLES = {
    "web": Role(
        WEB_REQUIREMENTS,
        forbidden=("pyvips", "PIL", "pillow_heif", "pyvips_binary.libs", "uvicorn"),
        # pydantic's bundled v1 API: FastAPI refuses v1 models, yet imports it (70 ms at a
        # cold start) to check each route's types; without it that check answers "not v1".
        prune=("pydantic/v1",),
    ),
    "thumbnail": Role(
        ("boto3", "python-ulid", *ENGINE),
        forbidden=("fastapi", "pydantic", "mangum", "starlette", "argon2"),
        drop=("web",),
    ),
    "failure": Role(
        ("boto3", "python-ulid"),
        forbidden=("pyvips", "PIL", "fastapi", "pydantic", "mangum", "argon2"),
        drop=("web",),
    ),
}


def build_packages(
    arch: str,
    out: Path,
    project: Path = PROJECT_ROOT,
    make_zip: bool = False,
    python: str | None = None,
) -> dict[str, Path]:
    """Build every role's package for `arch` under `out` (replaced); role -> dir (or .zip)."""
    if arch not in PLATFORMS:
        raise ValueError(f"arch must be one of {', '.join(PLATFORMS)}")
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to build the Lambda packages (https://docs.astral.sh/uv/)")
    py313 = python or find_python313()
    if out.exists():
        shutil.rmtree(out)
    built: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wheel, pinned = _wheel_and_pins(uv, project, Path(tmp))
        for name, role in ROLES.items():
            target = out / name
            _install(uv, arch, target, role, wheel, pinned, Path(tmp))
            trim(target, role)
            check_wheel_tags(target, arch)
            check_contents(target, name)
            compile_bytecode(py313, target)
            built[name] = (
                Path(shutil.make_archive(str(target), "zip", target)) if make_zip else target
            )
    return built


def _wheel_and_pins(uv: str, project: Path, tmp: Path) -> tuple[Path, Path]:
    """imgdrop's wheel, and the versions uv.lock pins (the ones the tests ran with)."""
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp), str(project)],
        check=True,
        capture_output=True,
    )
    pinned = tmp / "constraints.txt"
    subprocess.run(
        [*(uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet"),
         *("--project", str(project), "--output-file", str(pinned))],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return next(tmp.glob("imgdrop-*.whl")), pinned


def _install(
    uv: str, arch: str, target: Path, role: Role, wheel: Path, pinned: Path, tmp: Path
) -> None:
    """The role's requirements (constrained to the lock's versions), then imgdrop itself."""
    wanted = tmp / f"{target.name}-requirements.txt"
    wanted.write_text("\n".join(role.requirements) + "\n")
    # Copies, not hard links into uv's cache: trim() rewrites some files, which must never
    # change the cache (or every environment linked to it).
    flags = ["--quiet", "--link-mode", "copy", "--target", str(target)]
    flags += ["--python-platform", PLATFORMS[arch]]
    flags += ["--python-version", PYTHON_VERSION]
    subprocess.run([uv, "pip", "install", *flags, "-r", str(wanted), "-c", str(pinned)], check=True)
    subprocess.run([uv, "pip", "install", *flags, "--no-deps", str(wheel)], check=True)


def trim(root: Path, role: Role) -> None:
    """Drop what this function never runs: console scripts, the build machine's bytecode,
    botocore's models of other services, `role.prune`, imgdrop's CLI-only modules and
    `role.drop`."""
    shutil.rmtree(root / "bin", ignore_errors=True)
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    slim_botocore_data(root / "botocore" / "data")
    for name in role.prune:
        shutil.rmtree(root / name, ignore_errors=True)
    package = root / "imgdrop"
    for name in (*CLI_ONLY, *role.drop):
        path = package / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def slim_botocore_data(models: Path) -> None:
    """Keep only the models of the services imgdrop calls, without their documentation.

    Creating a client parses its JSON model, endpoint rules and the 1.2 MB endpoints.json of
    every AWS service: most of a client's creation time, and mostly text nobody reads here.
    Older API versions (botocore loads the newest) go too; the endpoint rule sets, indented
    JSON, are stored minified (S3's: 0.9 MB to 0.12 MB, parsed in a fifth of the time).
    """
    if not models.is_dir():
        return
    for service in models.iterdir():
        if service.is_dir() and service.name not in BOTOCORE_SERVICES:
            shutil.rmtree(service)
        elif service.is_dir():
            for old in sorted(v for v in service.iterdir() if v.is_dir())[:-1]:
                shutil.rmtree(old)
    endpoints = models / "endpoints.json"
    if endpoints.is_file():
        table = json.loads(endpoints.read_text())
        for partition in table.get("partitions", []):
            kept = partition.get("services", {}).items()
            partition["services"] = {k: v for k, v in kept if k in BOTOCORE_SERVICES}
        _replace(endpoints, json.dumps(table, separators=(",", ":")).encode())
    for model in models.glob("*/*/service-2.json.gz"):
        with gzip.open(model, "rt") as fh:
            shapes = _without_docs(json.load(fh))
        packed = json.dumps(shapes, separators=(",", ":")).encode()
        _replace(model, gzip.compress(packed, compresslevel=6, mtime=0))
    for rules in models.glob("*/*/endpoint-rule-set-1.json.gz"):
        with gzip.open(rules, "rt") as fh:
            packed = json.dumps(json.load(fh), separators=(",", ":")).encode()
        _replace(rules, gzip.compress(packed, compresslevel=6, mtime=0))
    for examples in models.glob("*/*/examples-1.json"):
        examples.unlink()


def _replace(path: Path, data: bytes) -> None:
    """Write `data` as a new file in `path`'s place (a new inode: never through a hard link)."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_bytes(data)
    os.replace(fresh, path)


def _without_docs(node: object) -> object:
    """A JSON model with every `documentation`/`documentationUrl` text emptied (the keys stay:
    botocore reads some of them, e.g. a client context parameter's)."""
    if isinstance(node, dict):
        docs = {"documentation", "documentationUrl"}
        return {k: "" if k in docs else _without_docs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_docs(v) for v in node]
    return node


def check_contents(root: Path, role: str) -> None:
    """Raise if the package holds a library its role must not carry, or is too large."""
    present = [name for name in ROLES[role].forbidden if (root / name).exists()]
    if present:
        raise RuntimeError(f"the {role} package must not contain {', '.join(present)}")
    size = package_size(root)
    if size > MAX_UNZIPPED_BYTES:
        raise RuntimeError(f"the {role} package is {size / 2**20:.1f} MB unzipped (limit 80 MB)")


def package_size(root: Path) -> int:
    """Bytes of every file under `root` (what Lambda unzips)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def compile_bytecode(python: str, root: Path) -> None:
    """Compile every module with the target's Python 3.13, unchecked-hash, paths as /var/task."""
    root = root.resolve()
    subprocess.run(
        [python, "-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
         "unchecked-hash", "-s", str(root), "-p", "/var/task", str(root)],
        check=True,
        capture_output=True,
    )  # fmt: skip


PROBE_313 = "import sys; print(sys.executable if sys.version_info[:2] == (3, 13) else '')"


def find_python313() -> str:
    """A working Python 3.13 interpreter (bytecode is specific to the minor version), by the
    path of its executable: a version manager's shim would run another program first."""
    candidates = [shutil.which("python3.13") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    found = subprocess.run(
        ["uv", "python", "find", PYTHON_VERSION], capture_output=True, text=True, check=False
    )
    candidates.append(found.stdout.strip())
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-I", "-c", PROBE_313],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip():
            return probe.stdout.strip()
    raise RuntimeError(
        "Python 3.13 is needed to compile the packages' bytecode for Lambda's python3.13 "
        "(uv python install 3.13, or pass --python PATH)"
    )


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


def main(argv: list[str] | None = None) -> int:
    """Command line: --arch arm64|x86_64 --out DIR [--zip] [--python PATH]."""
    parser = argparse.ArgumentParser(
        prog="python -m imgdrop.packaging",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default build/lambda-ARCH)"
    )
    parser.add_argument("--zip", action="store_true", help="also write OUT/ROLE.zip")
    parser.add_argument("--python", default=None, help="a Python 3.13 to compile bytecode with")
    args = parser.parse_args(argv)
    out = args.out or Path("build") / f"lambda-{args.arch}"
    try:
        built = build_packages(args.arch, out, make_zip=args.zip, python=args.python)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"imgdrop-package: {exc}", file=sys.stderr)
        return 1
    for role, path in built.items():
        size = package_size(path) if path.is_dir() else path.stat().st_size
        print(f"{role}\t{path}\t{size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
