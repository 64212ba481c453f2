"""How long `tfganaug train <yaml> --dry-run` takes for every shipped experiment YAML.

Each dry run is a fresh process, as a user runs it (TensorFlow's import included). Recorded per
YAML: wall seconds to the end of the plan (the last plan line, every sweep point's) and to the end of
the estimate, the process's CPU seconds (user + system; on a shared machine the wall time also holds
other processes' load, given as the load averages before and after), the exit code with the last
error line (a data set not prepared here fails at once, before any timing), and the estimate printed.

    nice -n 5 python bench/dry_run.py --json docs/benchmarks/dry_run.json
    python bench/dry_run.py experiments/dagan_lowdata.yaml     # some YAMLs only
"""

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from timing import write_json  # bench/timing.py

REPO = Path(__file__).resolve().parents[1]


def _child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_dry_run(yaml_path):
    """{seconds, plan_seconds, cpu_seconds, exit_code, estimate, error, load_before, load_after} of one dry run."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    load_before, cpu_before = os.getloadavg()[0], _child_cpu()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tfganaug.cli", "train", str(yaml_path), "--dry-run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    plan_seconds, estimate = None, None
    for line in process.stdout:  # the plan of each point ends with its "seeds:" line; the times follow
        if line.startswith("seeds:"):
            plan_seconds = time.perf_counter() - started
        if line.strip().startswith(("total about", "the whole sweep: about")):
            estimate = line.strip()
    error = process.stderr.read().strip().splitlines()
    code = process.wait()
    return {"seconds": round(time.perf_counter() - started, 1),
            "plan_seconds": None if plan_seconds is None else round(plan_seconds, 1),
            "cpu_seconds": round(_child_cpu() - cpu_before, 1), "exit_code": code, "estimate": estimate,
            "error": error[-1] if code and error else None,
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("yamls", nargs="*", help="experiment YAMLs (default: every experiments/*.yaml)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    yamls = [Path(p) for p in args.yamls] or sorted((REPO / "experiments").glob("*.yaml"))
    results = {}
    for path in yamls:
        results[path.name] = time_dry_run(path.resolve())
        print(path.name, results[path.name], flush=True)
    write_json(args.json, {"command": "tfganaug train <yaml> --dry-run", "cpus": os.cpu_count(),
                           "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                           "python": platform.python_version(), "yamls": results})


if __name__ == "__main__":
    main()
