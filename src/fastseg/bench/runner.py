"""Runs benchmark cases: median times, rates, percent of peak, ratios against the peers."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import time

import fastseg

from .case import Case, registry

PEERS = ("torch", "scipy")


def median_time(fn, repeats: int, min_time: float) -> float:
    """Median of `repeats` timed calls (more while their total stays under min_time) after one
    warm-up call."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < min_time and len(times) < 100):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def machine(quick: bool) -> dict:
    peak = fastseg._C.fma_peak_gflops(0.2 if quick else 1.0)
    bandwidth = fastseg._C.copy_bandwidth_gbs(1 << (24 if quick else 28), 3 if quick else 5)
    return {"cpu": _cpu_name(), "isa": fastseg.cpu_isa(), "threads": fastseg.get_num_threads(),
            "fma_peak_gflops": peak, "copy_bandwidth_gbs": bandwidth,
            "python": platform.python_version(), "fastseg": fastseg.__version__}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def select(pattern: str | None) -> list[Case]:
    cases = registry()
    if pattern:
        cases = [c for c in cases if re.search(pattern, c.name)]
    return cases


def run(pattern: str | None = None, peers=PEERS, repeats: int = 7, min_time: float = 0.5,
        quick: bool = False, out=print) -> dict:
    """Runs the cases whose name matches `pattern`; returns the JSON-ready results.

    Timings are of repeated calls, as in a loop: the process keeps freed memory for reuse
    (fastseg.set_memory_reuse, for every library alike), so that outputs do not pay fresh page
    faults on every call."""
    info = machine(quick)
    info["memory_reuse"] = fastseg.set_memory_reuse(True)
    peak = {"GFLOP/s": info["fma_peak_gflops"], "GB/s": info["copy_bandwidth_gbs"]}
    out(f"# {info['cpu']} | isa {info['isa']} | {info['threads']} threads | "
        f"FMA peak {info['fma_peak_gflops']:.0f} GFLOP/s | copy {info['copy_bandwidth_gbs']:.1f} GB/s"
        f"{' | freed memory reused' if info['memory_reuse'] else ''}")
    header = f"{'case':44} {'impl':8} {'median ms':>10} {'rate':>9} {'unit':8} {'% peak':>7} {'vs torch':>9} {'vs scipy':>9}"
    out(header)
    out("-" * len(header))
    results = []
    for case in select(pattern):
        impls = case.setup(set(peers))
        timings = {name: median_time(fn, 1 if quick else repeats, 0 if quick else min_time)
                   for name, fn in impls.items()}
        record = {"name": case.name, "family": case.family, "unit": case.unit, "work": case.work,
                  "impls": {}}
        for name, seconds in timings.items():
            rate = case.work / seconds / 1e9
            ceiling = case.peak() if case.peak else peak[case.unit]
            entry = {"median_s": seconds, "rate": rate, "percent_peak": 100 * rate / ceiling}
            for peer in PEERS:
                if peer in timings and name == "fastseg":
                    entry[f"speedup_vs_{peer}"] = timings[peer] / seconds
            record["impls"][name] = entry
            ratios = [f"{entry[f'speedup_vs_{p}']:8.2f}x" if f"speedup_vs_{p}" in entry else f"{'':9}"
                      for p in PEERS]
            out(f"{case.name:44} {name:8} {seconds * 1e3:10.3f} {rate:9.1f} {case.unit:8} "
                f"{entry['percent_peak']:6.1f}% {ratios[0]} {ratios[1]}")
        results.append(record)
    summary = summarize(results)
    for family, ratios in summary.items():
        parts = ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
        out(f"# geomean speedup of fastseg, {family}: {parts}")
    return {"machine": info, "cases": results, "summary": summary}


def summarize(results: list[dict]) -> dict:
    """Geometric-mean speedup of fastseg over each peer, per family and direction."""
    groups: dict[str, dict[str, list[float]]] = {}
    for r in results:
        fs = r["impls"].get("fastseg", {})
        key = f"{r['family']} {r['name'].split()[1]}"
        for peer in PEERS:
            if f"speedup_vs_{peer}" in fs:
                groups.setdefault(key, {}).setdefault(peer, []).append(fs[f"speedup_vs_{peer}"])
    return {k: {p: math.exp(sum(map(math.log, v)) / len(v)) for p, v in g.items()}
            for k, g in groups.items()}


def write_json(results: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
