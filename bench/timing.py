"""Timing shared by the benchmarks: alternate the measured variants so that load changes hit all alike."""

import json
import os
import platform
import statistics
import time


def alternating_seconds(runs, repeats):
    """Seconds of each zero-argument callable in `runs` ({name: run}), timed round-robin `repeats` times:
    {name: [seconds of round 1, round 2, ...]}."""
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def alternating_medians(runs, repeats):
    """Median seconds of each callable in `runs`, timed round-robin (see `alternating_seconds`)."""
    return {name: statistics.median(s) for name, s in alternating_seconds(runs, repeats).items()}


def paired_speed_ratio(seconds, name, reference):
    """Speed of `name` relative to `reference` (> 1: faster): the median over rounds of their
    time ratio within the same round. Each round's pair ran back to back, so a slow phase of
    the machine (these are shared VMs) cancels out instead of landing on one side's median."""
    return statistics.median(r / s for r, s in zip(seconds[reference], seconds[name]))


def machine():
    """What the figures were measured on: the CPU model, its bfloat16 flags (AMX, AVX512-BF16), the cores
    this process may use, the load average when the bench started, and the time (UTC)."""
    model, flags = platform.processor(), set()
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {"cpu": model, "bfloat16_flags": sorted(flags & {"amx_bf16", "amx_tile", "avx512_bf16"}),
            "cores": len(os.sched_getaffinity(0)), "load_average_1_5_15": os.getloadavg(),
            "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def write_json(path, result):
    """Write the figures to `path` when one was given (the benchmarks' --json option)."""
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
