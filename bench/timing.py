"""Timing shared by the benchmarks: alternate the measured variants so that load changes hit all alike."""

import json
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


def write_json(path, result):
    """Write the figures to `path` when one was given (the benchmarks' --json option)."""
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
