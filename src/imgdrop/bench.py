"""Benchmark the thumbnail engine against naive Pillow, the decode floors and sharp.

`python -m imgdrop.bench [--corpus DIR] [--heif PATH...] [--repeat N] [--out FILE]` prints a
markdown report; `python -m imgdrop.bench --soak SECONDS` loops the engine over the corpus and
reports RSS. Each contender runs in a fresh process pinned to CPU 0 (libvips concurrency 1), so
times are one-core times and peak RSS is that contender's own. HEIC and AVIF are timed against
their own decode floors (libheif, libavif): the corpus's own, any given with --heif, and (unless
--no-generated-heif) seeded 12 MP photos made for the run; those added are kept out of the
whole-corpus figures and the throughput.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from imgdrop.bench_contenders import (
    CONTENDERS,
    corpus_files,
    eighth_scale_rewrite_matches,
    generate_corpus,
    generate_heif_corpus,
    is_progressive_jpeg,
    pixel_count,
)
from imgdrop.engine.sniff import sniff_type

REPO = Path(__file__).resolve().parents[2]
SHARP_SCRIPT = REPO / "bench" / "sharp_idiomatic.mjs"
# Why a contender can have no rows at all (the report says so instead of crashing).
MISSING = {"floor_djpeg": "djpeg not found (apt-get install libjpeg-turbo-progs)"}
LARGE_PIXELS = 10_000_000
_DRAFT = "floor_pillow_draft"
PAIRED_FLOORS = (_DRAFT, "floor_libheif", "floor_libavif")


def _pin_one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _child_env() -> dict[str, str]:
    return {
        **os.environ,
        "VIPS_CONCURRENCY": "1",
        "UV_THREADPOOL_SIZE": "1",
        "MALLOC_ARENA_MAX": "2",
    }


def _run_worker(name: str, files: list[Path], repeat: int) -> dict[str, dict]:
    """Run one contender over `files` in a fresh pinned process; {file: {ms, bytes, rss}}."""
    # taskset for the whole process: threads libvips and libheif start while the worker imports
    # them would not inherit an affinity the worker sets for itself later (seen: an engine run
    # using 1.5 cores' CPU time while "pinned").
    pin = ["taskset", "-c", str(min(os.sched_getaffinity(0)))]
    if name == "sharp":
        cmd = [*pin, "node", str(SHARP_SCRIPT), str(repeat)]
    else:
        cmd = [*pin, sys.executable, "-m", "imgdrop.bench", "--worker", name]
        cmd += ["--repeat", str(repeat)]
    done = subprocess.run(
        cmd + [str(f) for f in files],
        capture_output=True,
        text=True,
        env=_child_env(),
        check=True,
        timeout=3600,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {Path(r["file"]).name: r for r in rows}


def _unreadable(results: dict) -> list[str]:
    """Report lines for images a contender could not read ({file, error} rows)."""
    return [
        f"- {name} could not read {file}: {row['error']}"
        for name, rows in results.items()
        for file, row in sorted(rows.items())
        if "error" in row
    ]


def _worker_main(name: str, files: list[str], repeat: int) -> None:
    """Time one contender per file in this process and print JSON lines (child side)."""
    import pyvips

    _pin_one_core()
    pyvips.concurrency_set(1)
    if name == "paired":
        _paired_main(files, repeat)
        return
    run = CONTENDERS[name]
    for file in files:
        data = Path(file).read_bytes()
        size = run(data)  # warm-up; None means "not applicable to this file"
        if size is None:
            continue
        times, cpu = [], []
        for _ in range(repeat):
            started, cpu_started = time.perf_counter(), _cpu_s()
            run(data)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((_cpu_s() - cpu_started) * 1000)
        row = {"file": file, "ms": times, "cpu_ms": cpu, "bytes": size, "rss": _peak_rss()}
        print(json.dumps(row), flush=True)


def _cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (djpeg): unlike wall time, not
    stretched by other jobs on a shared machine (though still slowed by their cache misses)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # os.times() ticks only every 10 ms
    return time.process_time() + children.ru_utime + children.ru_stime


def _timed(run: Callable[[bytes], object], data: bytes) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call."""
    started, cpu_started = time.perf_counter(), _cpu_s()
    run(data)
    return (time.perf_counter() - started) * 1000, (_cpu_s() - cpu_started) * 1000


def _paired_main(files: list[str], repeat: int) -> None:
    """The engine and the decode floor that applies to each file, alternately, run by run, in
    one process (child side): outside load then hits both alike."""
    for file in files:
        data = Path(file).read_bytes()
        floor = next((n for n in PAIRED_FLOORS if CONTENDERS[n](data) is not None), None)
        if floor is None:  # the call above was the floor's warm-up
            continue
        CONTENDERS["engine"](data)
        runs: dict[str, list[tuple[float, float]]] = {"engine": [], "floor": []}
        for _ in range(repeat):
            runs["engine"].append(_timed(CONTENDERS["engine"], data))
            runs["floor"].append(_timed(CONTENDERS[floor], data))
        row: dict[str, object] = {"file": file, "floor": floor}
        for name, timings in runs.items():
            row[name] = {"ms": [w for w, _ in timings], "cpu_ms": [c for _, c in timings]}
        print(json.dumps(row), flush=True)


def _peak_rss() -> int:
    """This process's peak RSS in bytes.

    VmHWM belongs to the process's own address space. ru_maxrss would do on other systems,
    but Linux carries it across exec, so a child started by a big parent would report the
    parent's size (seen: every contender at 127 MB after the parent decoded a 24 MP JPEG).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _throughput(files: list[Path], processes: int, repeat: int) -> float:
    """Engine images/s with `processes` workers, each pinned to its own core."""
    cores = sorted(os.sched_getaffinity(0))[:processes]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                "taskset",
                "-c",
                str(core),
                sys.executable,
                "-m",
                "imgdrop.bench",
                "--worker",
                "engine",
                "--repeat",
                str(repeat),
            ]
            + [str(f) for f in files],
            stdout=subprocess.DEVNULL,
            env=_child_env(),
        )
        for core in cores
    ]
    for proc in procs:
        proc.wait()
    # Each worker also does one warm-up pass per file.
    return len(files) * (repeat + 1) * len(cores) / (time.perf_counter() - started)


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")


def _ratio(results: dict, a: str, b: str, names: list[str]) -> str:
    pairs = [
        (results[a][n], results[b][n])
        for n in names
        if n in results.get(a, {}) and n in results.get(b, {})
    ]
    if not pairs:
        return "n/a"
    # On a shared machine the best run is the least disturbed one, so both are shown.
    medians = [statistics.median(x["ms"]) / statistics.median(y["ms"]) for x, y in pairs]
    bests = [min(x["ms"]) / min(y["ms"]) for x, y in pairs]
    text = f"{_geomean(medians):.2f}x by medians, {_geomean(bests):.2f}x by best runs"
    cpu = [(x["cpu_ms"], y["cpu_ms"]) for x, y in pairs if x.get("cpu_ms") and y.get("cpu_ms")]
    if len(cpu) == len(pairs):  # sharp (node) reports no CPU time
        by_cpu = [max(statistics.median(x), 1e-3) / max(statistics.median(y), 1e-3) for x, y in cpu]
        text += f", {_geomean(by_cpu):.2f}x by CPU time"
    return f"{text} ({len(pairs)} images)"


def _fresh_rss(file: Path) -> int:
    """Peak RSS of a fresh process that makes one image's thumbnails once."""
    done = subprocess.run(
        [sys.executable, "-m", "imgdrop.bench", "--worker", "engine", "--repeat", "0", str(file)],
        capture_output=True,
        text=True,
        env=_child_env(),
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])["rss"]


def _table(results: dict, files: list[Path], pixels: dict[str, int]) -> list[str]:
    names = [n for n in CONTENDERS if n in results] + (["sharp"] if "sharp" in results else [])
    lines = [
        "| image | MP | " + " | ".join(f"{n} ms" for n in names) + " | engine bytes |",
        "|---|---:|" + "---:|" * (len(names) + 1),
    ]
    for f in files:
        cells = [
            f"{statistics.median(results[n][f.name]['ms']):.1f}" if f.name in results[n] else "-"
            for n in names
        ]
        out = results["engine"].get(f.name, {}).get("bytes", 0)
        lines.append(
            f"| {f.name} | {pixels[f.name] / 1e6:.1f} | " + " | ".join(cells) + f" | {out:,} |"
        )
    lines += [
        "",
        "| contender | images/s (one core) | peak RSS MB | output bytes |",
        "|---|---:|---:|---:|",
    ]
    for n in names:
        rows = results[n].values()
        if not rows:  # e.g. floor_djpeg on a machine without djpeg: say so, do not divide by 0
            lines.append(f"| {n} | not run: {MISSING.get(n, 'no image it could read')} | - | - |")
            continue
        total_ms = sum(statistics.median(r["ms"]) for r in rows)
        lines.append(
            f"| {n} | {1000 * len(rows) / total_ms:.1f} | "
            f"{max(r['rss'] for r in rows) / 2**20:.0f} | "
            f"{sum(r['bytes'] for r in rows):,} |"
        )
    return lines


def heif_files(paths: Sequence[Path]) -> list[Path]:
    """The HEIC and AVIF files among `paths` (files, or folders read one level deep)."""
    found = []
    for path in paths:
        for file in corpus_files(path) if path.is_dir() else [path]:
            if sniff_type(file.read_bytes()[:64]) in ("heic", "avif"):
                found.append(file)
    return found


def _summary(results: dict, groups: dict[str, list[str]]) -> list[str]:
    """The ratio lines of the report, one per comparison, over the named groups of images."""
    g = groups

    def line(label: str, a: str, b: str, group: str) -> str:
        return f"- {label}: {_ratio(results, a, b, g[group])}"

    return [
        line("engine / decode floor (Pillow draft 1/8), large JPEGs", "engine", _DRAFT, "large"),
        "  " + line("baseline only", "engine", _DRAFT, "large_baseline"),
        "  " + line("progressive only", "engine", _DRAFT, "large_progressive"),
        line(
            "engine / decode floor (djpeg -scale 1/8), large JPEGs",
            "engine",
            "floor_djpeg",
            "large",
        ),
        line("engine / sharp idiomatic, large JPEGs", "engine", "sharp", "large"),
        line("engine / sharp idiomatic, whole corpus", "engine", "sharp", "main"),
        line("engine / naive Pillow, whole corpus", "engine", "pillow_naive", "main"),
        line("engine / libheif decode floor (one thread), HEIC", "engine", "floor_libheif", "heic"),
        line(
            "engine / libavif decode floor (dav1d, one thread), AVIF",
            "engine",
            "floor_libavif",
            "avif",
        ),
        line("engine / sharp idiomatic, AVIF", "engine", "sharp", "avif"),
        "- the engine and its decode floor alternately in one process (outside load hits both):",
        "  " + line("large JPEGs (Pillow draft)", "paired_engine", "paired_floor", "large"),
        "  " + line("HEIC (libheif)", "paired_engine", "paired_floor", "heic"),
        "  " + line("AVIF (libavif)", "paired_engine", "paired_floor", "avif"),
        line("polyglot scan / engine, large JPEGs", "polyglot_scan", "engine", "large"),
        line("polyglot scan / engine, whole corpus", "polyglot_scan", "engine", "main"),
        line("polyglot scan / engine, HEIC and AVIF", "polyglot_scan", "engine", "heif"),
    ]


def _groups(
    files: list[Path], extra: list[Path], sizes: dict[str, int], progressive: set[str]
) -> dict[str, list[str]]:
    """Which images each figure is over: the main corpus (without the HEIC/AVIF set added to
    it), its large JPEGs, and every HEIC and AVIF."""
    added = {f.name for f in extra}
    main = [f.name for f in files if f.name not in added]
    large = [n for n in main if sizes[n] >= LARGE_PIXELS and n.lower().endswith(".jpg")]
    kinds = {f.name: sniff_type(f.read_bytes()[:64]) for f in files}
    return {
        "main": main,
        "large": large,
        "large_baseline": [n for n in large if n not in progressive],
        "large_progressive": [n for n in large if n in progressive],
        "heif": [n for n, kind in kinds.items() if kind in ("heic", "avif")],
        "heic": [n for n, kind in kinds.items() if kind == "heic"],
        "avif": [n for n, kind in kinds.items() if kind == "avif"],
    }


def run_bench(
    corpus: Path | None,
    repeat: int = 5,
    out: Path | None = None,
    heif: Sequence[Path] = (),
    generated_heif: bool = False,
) -> str:
    """Run every contender over the corpus (generated when None) and a HEIC/AVIF set (`heif`,
    plus seeded 12 MP photos when `generated_heif`); return a markdown report."""
    with tempfile.TemporaryDirectory(prefix="imgdrop-bench-") as tmp:
        main_files = corpus_files(corpus) if corpus else generate_corpus(Path(tmp))
        (Path(tmp) / "heif").mkdir()
        made = generate_heif_corpus(Path(tmp) / "heif") if generated_heif else []
        extra = made + heif_files(heif)
        files = main_files + extra
        blobs = {f.name: f.read_bytes() for f in files}
        sizes = {name: pixel_count(data) for name, data in blobs.items()}
        progressive = {name for name, data in blobs.items() if is_progressive_jpeg(data)}
        rewrites = [eighth_scale_rewrite_matches(data) for data in blobs.values()]
        del blobs
        results = {n: _run_worker(n, files, repeat) for n in CONTENDERS}
        if shutil.which("node") and (REPO / "bench/node/node_modules/sharp").is_dir():
            results["sharp"] = _run_worker("sharp", files, repeat)
        groups = _groups(files, extra, sizes, progressive)
        paired = set(groups["large"] + groups["heic"] + groups["avif"])
        rows = _run_worker("paired", [f for f in files if f.name in paired], repeat)
        results["paired_engine"] = {f: r["engine"] for f, r in rows.items()}
        results["paired_floor"] = {f: r["floor"] for f, r in rows.items()}
        unreadable = _unreadable(results)
        results = {n: {f: r for f, r in rows.items() if "ms" in r} for n, rows in results.items()}
        main_files = [f for f in files if f.name in groups["main"]]
        one, two = _throughput(main_files, 1, repeat), _throughput(main_files, 2, repeat)
        biggest = max(main_files, key=lambda f: sizes[f.name])
        rss = _fresh_rss(biggest)
    checked = [r for r in rewrites if r is not None]
    lines = [
        f"Corpus: {corpus or 'generated (seeded)'}, {len(main_files)} images; HEIC/AVIF set: "
        f"{len(extra)} images ({', '.join(f.name for f in extra)}); median of {repeat} runs "
        "after one warm-up; one core (CPU 0), libvips concurrency 1.",
        "",
        *_table(results, files, sizes),
        "",
        *_summary(results, groups),
        f"- engine throughput (main corpus): {one:.1f} images/s on one core, {two:.1f} on two "
        f"processes/cores = {two / one:.2f}x",
        f"- engine peak RSS in a fresh process for {biggest.name}: {rss / 2**20:.0f} MB",
        f"- progressive JPEGs rewritten for 1/8-scale decoding (jpeg_scans): {len(checked)}; "
        f"pixels identical to decoding the whole file: {sum(checked)} of {len(checked)}",
        *unreadable,
    ]
    report = "\n".join(lines) + "\n"
    if out:
        out.write_text(report)
    return report


def soak(corpus: Path | None, seconds: float, every: float = 10.0) -> str:
    """Loop the engine over the corpus for `seconds`; report RSS over time (markdown)."""
    import psutil

    from imgdrop.engine.pipeline import make_thumbnails

    with tempfile.TemporaryDirectory(prefix="imgdrop-soak-") as tmp:
        blobs = [
            f.read_bytes() for f in (corpus_files(corpus) if corpus else generate_corpus(Path(tmp)))
        ]
    me, rows, done = psutil.Process(), ["| s | images | RSS MB |", "|---:|---:|---:|"], 0
    started = next_sample = time.monotonic()
    rnd = random.Random(1)
    while (now := time.monotonic()) - started < seconds:
        if now >= next_sample:
            rows.append(f"| {now - started:.0f} | {done} | {me.memory_info().rss / 2**20:.0f} |")
            next_sample += every
        make_thumbnails(rnd.choice(blobs))
        done += 1
    rows.append(f"| {seconds:.0f} | {done} | {me.memory_info().rss / 2**20:.0f} |")
    peak = _peak_rss() / 2**20
    return "\n".join([*rows, "", f"Peak RSS {peak:.0f} MB over {done} images."]) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: benchmark, soak, or (internally) one contender's worker."""
    parser = argparse.ArgumentParser(prog="python -m imgdrop.bench", description=__doc__)
    parser.add_argument("--corpus", type=Path, help="directory of images (default: generated)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per image")
    parser.add_argument(
        "--heif",
        type=Path,
        nargs="+",
        default=[],
        help="more HEIC/AVIF files or folders to time against their decode floors",
    )
    parser.add_argument(
        "--no-generated-heif",
        action="store_true",
        help="do not add seeded 12 MP HEIC/AVIF photos (they take ~30 s to encode)",
    )
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="run the soak test")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main(args.worker, args.files, args.repeat)
    elif args.soak:
        if os.environ.get("MALLOC_ARENA_MAX") != "2":  # glibc reads it at start-up only
            os.execve(
                sys.executable, [sys.executable, "-m", "imgdrop.bench", *sys.argv[1:]], _child_env()
            )
        print(soak(args.corpus, args.soak))
    else:
        print(run_bench(args.corpus, args.repeat, args.out, args.heif, not args.no_generated_heif))


if __name__ == "__main__":
    main()
