"""Scale-out on one machine: an experiment (the quickstart) trained serially, then planned and run by
`--executor local` with 2 workers; the wall times, whether the results agree, and each task's and
shard's estimated time (`tfganaug plan`) against its measured time.

On 2 cores expect little gain (both ways use every core); the point is that the parallel path gives
the serial results and how well the plan's estimate balances shards.

    python bench/scale_out.py --json docs/benchmarks/scale_out.json          # about 20 minutes on 2 cores
    python bench/scale_out.py --set classifier.epochs=1 --set groups.2.gan.epochs=1 --json /tmp/s.json  # a quick look
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tfganaug.sharing.tasks import Plan  # noqa: E402
from timing import write_json  # noqa: E402  (bench/timing.py)


def _cli(*args, env=None):
    """Run `tfganaug ARGS` in a fresh process; its wall seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tfganaug.cli", *map(str, args)], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def per_task(plan):
    """[{task, shard, estimated, measured seconds}] from the plan and the task records."""
    shard_of = {t.index: s for s in range(plan.shards) for t in plan.shard(s)}
    rows = []
    for task in plan.tasks:
        record = plan.record(task)
        rows.append({"task": task.index, "what": task.describe(), "shard": shard_of[task.index],
                     "estimated": task.seconds, "measured": round(record["ended"] - record["started"], 1)})
    return rows


def per_shard(rows, shards):
    """[{shard, estimated, measured}]: the sums of its tasks (what one process running the shard takes)."""
    return [{"shard": s, "estimated": round(sum(r["estimated"] or 0 for r in rows if r["shard"] == s), 1),
             "measured": round(sum(r["measured"] for r in rows if r["shard"] == s), 1)} for s in range(shards)]


def _accuracies(run):
    return {r["group"]: r["accuracy"] for r in json.loads((run / "results.json").read_text())["summary"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "experiments" / "quickstart.yaml"))
    parser.add_argument("--set", action="append", default=[], help="config overrides, as `tfganaug train --set`")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="scale_out_"))
    overrides = [a for s in args.set for a in ("--set", s)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    serial_seconds = _cli("train", args.config, "--out", scratch / "serial", *overrides, env=env)
    plan_seconds = _cli("plan", args.config, "--out", scratch / "parallel", "--shards", args.workers, *overrides,
                        env=env)
    parallel_seconds = _cli("train", args.config, "--out", scratch / "parallel", "--executor", "local", "--workers",
                            args.workers, *overrides, env=env)
    plan = Plan.load(scratch / "parallel")
    tasks = per_task(plan)
    result = {
        "config": Path(args.config).name, "overrides": args.set, "cores": len(os.sched_getaffinity(0)),
        "workers": args.workers, "serial_seconds": round(serial_seconds, 1),
        "plan_seconds": round(plan_seconds, 1), "parallel_seconds": round(parallel_seconds, 1),
        "speedup": round(serial_seconds / parallel_seconds, 2),
        "same_accuracies": _accuracies(scratch / "serial") == _accuracies(scratch / "parallel"),
        "tasks": tasks, "shards": per_shard(tasks, plan.shards), "run_folders": str(scratch)}
    print(json.dumps({k: v for k, v in result.items() if k != "tasks"}, indent=1))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
