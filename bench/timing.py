"""Timing shared by the benchmarks: alternate the measured variants so that load changes hit all alike."""

import json
import statistics
import time


def alternating_medians(runs, repeats):
    """Median seconds of each zero-argument callable in `runs` ({name: run}), timed round-robin `repeats` times."""
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(s) for name, s in seconds.items()}


def write_json(path, result):
    """Write the figures to `path` when one was given (the benchmarks' --json option)."""
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
