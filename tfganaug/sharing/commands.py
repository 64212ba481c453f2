"""The `tfganaug` commands of a run shared by many processes: `plan`, `worker`, `status`,
`train --shard / --executor` (see `tfganaug.sharing.tasks`, `tfganaug.experiment.work`, `tfganaug.sharing.executors`),
and `merge` of run folders made apart (`tfganaug.experiment.merge`).

Imports nothing heavy at the top: `status` and bad options answer before TensorFlow starts.
"""

import argparse
import sys
from pathlib import Path

from tfganaug.errors import ConfigError, UserError


def _integer_from(minimum):
    """An argparse type: an integer of at least `minimum`, else a message that says so."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer of at least {minimum}, got '{text}'")
        return value
    return parse


positive, non_negative = _integer_from(1), _integer_from(0)


def add_train_options(train):
    """`tfganaug train`'s options for shards and executors."""
    train.add_argument("--shard", metavar="i/N|auto",
                       help="run only shard i of N of the planned tasks, no summary (auto: i is "
                            "SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, N the plan's); plans first if --out "
                            "has no plan")
    train.add_argument("--executor", choices=["local", "ray", "slurm"],
                       help="plan, then local: run every task in a fresh process here (--workers at a time) and "
                            "gather; ray: every task as a Ray task, then gather (needs tfganaug[ray]); slurm: "
                            "submit the tasks as a job array and the gather as a job after it, and return "
                            "(needs tfganaug[slurm])")
    train.add_argument("--ray-address", help="with --executor ray: a running cluster's address (default: a local "
                                             "Ray, or RAY_ADDRESS)")
    train.add_argument("--gpus-per-task", type=float, default=0,
                       help="with --executor ray: GPUs of each task (e.g. 1, or 0.5 for two tasks per GPU)")
    train.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                       help="with --executor slurm: a submitit parameter, e.g. slurm_partition=gpu, "
                            "gpus_per_node=1, timeout_min=600 (default: from the plan's estimate), "
                            "cpus_per_task (default: the plan's threads); repeatable")
    train.add_argument("--gpus", help="with --executor local: GPU ids, one per worker process (e.g. 0,1)")
    train.add_argument("--threads", type=positive,
                       help="with --shard or --executor, when they plan: TensorFlow intra-op threads of every task "
                            "(as `tfganaug plan --threads`)")
    train.add_argument("--workers", type=positive,
                       help="with --executor local: processes at a time (default: one per --gpus id, else 1); "
                            "the CPU cores are shared out among them")


def add_task_commands(commands):
    """The `plan`, `worker`, `status` and `merge` subcommands."""
    plan = commands.add_parser("plan", help="check an experiment, fetch its data and write its task list for "
                                            "shards and workers")
    plan.add_argument("config", help="experiment YAML")
    plan.add_argument("--out", help="run folder (default: <output.root>/<name>)")
    plan.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a config value")
    plan.add_argument("--shards", type=positive, default=1, help="shards to balance the tasks into (default 1)")
    plan.add_argument("--no-estimate", action="store_true",
                      help="skip the time estimate: shards get equal task counts")
    plan.add_argument("--lock", choices=["flock", "lease"],
                      help="how processes lock tasks: flock (one machine, local disks; default) or lease "
                           "(NFS, Lustre, GPFS: a file with a heartbeat)")
    plan.add_argument("--lease-seconds", type=float, help="lease mode: a holder silent this long is dead (default 120)")
    plan.add_argument("--threads", type=positive,
                      help="TensorFlow intra-op threads of every task (default: this machine's, as a serial run "
                           "here): a float sum's order follows it, so the same count gives the same numbers; set "
                           "it to the cores each cluster job gets")
    plan.add_argument("--overwrite", action="store_true", help="plan over a folder of another config")
    plan.set_defaults(func=_plan)

    worker = commands.add_parser("worker", help="claim and run a planned run's tasks until none are left")
    worker.add_argument("run_dir", help="a run folder of `tfganaug plan`")
    worker.add_argument("--retry-failed", action="store_true", help="also run tasks that failed before")
    worker.add_argument("--no-wait", action="store_true",
                        help="leave when the tasks left are running elsewhere (default: wait, to take over "
                             "those whose worker dies)")
    worker.add_argument("--task", type=non_negative, action="append",
                        help="only this task (its index in the plan); repeatable; waits while another process "
                             "holds it, then leaves")
    worker.set_defaults(func=_worker)

    status = commands.add_parser("status", help="done, running, failed and missing tasks of a planned run")
    status.add_argument("run_dir", help="a run folder of `tfganaug plan`")
    status.set_defaults(func=_status, needs_tensorflow=False)

    merge = commands.add_parser("merge", help="gather finished run folders of one experiment made apart (each with "
                                              "some of its seeds or sweep points) into the folder one run of all "
                                              "of them writes")
    merge.add_argument("runs", nargs="+", metavar="RUN", help="run folders (their small files: docs/run-folder.md); "
                                                              "the merged seeds follow their order")
    merge.add_argument("--out", required=True, help="the new run folder to write")
    merge.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY.PATH=VALUE",
                       help="how the merged results are read: output.metric or statistics.* (default: the first "
                            "folder's), e.g. --set output.metric=auto; repeatable")
    merge.set_defaults(func=_merge)


def train_shard(config, run_dir, shard, overwrite=False, threads=None):
    from tfganaug.sharing.tasks import Plan, parse_shard

    existing = Plan.load(run_dir) if run_dir.is_dir() else None
    index, count = parse_shard(shard, existing.shards if existing else None)  # before TensorFlow starts

    from tfganaug.experiment.work import run_shard

    failed = run_shard(config, run_dir, index, count, overwrite=overwrite, threads=threads)
    if failed:
        print(f"error: {failed} task(s) of shard {index}/{count} failed; see `tfganaug status {run_dir}`",
              file=sys.stderr)
    return 1 if failed else 0


def train_with_executor(config, run_dir, args):
    from tfganaug.sharing.executors import (cores_per_worker, run_local, run_ray, slot_environments, slurm_defaults,
                                            slurm_executor, submit_tasks)
    from tfganaug.experiment.work import planned, report

    if args.executor == "slurm":
        executor = slurm_executor(run_dir, args.slurm)  # checked before any work
        # Estimated when planned here: the jobs' time limit follows the longest task's estimate.
        found = planned(config, run_dir, overwrite=args.overwrite, threads=args.threads, estimate=True)
        executor.update_parameters(**slurm_defaults(found, args.slurm))
        submit_tasks(run_dir, executor)  # and return: the gather is a job of its own
        return 0
    if args.executor == "ray":
        planned(config, run_dir, overwrite=args.overwrite, threads=args.threads)
        failed = run_ray(run_dir, args.gpus_per_task, args.ray_address)
    else:
        slots = slot_environments(args.gpus, args.workers)  # checked before any work
        share = cores_per_worker(len(slots))  # a plan made here: each worker its share of the cores
        threads = planned(config, run_dir, overwrite=args.overwrite, threads=args.threads or share).threads
        slots = slot_environments(args.gpus, args.workers, intra_op_threads=threads)
        failed = run_local(run_dir, slots)
    if failed:
        print(f"error: {failed} task(s) failed; see `tfganaug status {run_dir}`; run the same command again to "
              "retry them after a fix", file=sys.stderr)
        return 1
    report(run_dir)
    return 0


def _plan(args):
    from tfganaug.config import load_config
    from tfganaug.experiment.work import plan

    config = load_config(args.config, args.set)
    run_dir = Path(args.out) if args.out else config.output.root / config.name
    try:
        plan(config, run_dir, shards=args.shards, estimate=not args.no_estimate, lock=args.lock,
             lease_seconds=args.lease_seconds, overwrite=args.overwrite, threads=args.threads)
    except ConfigError as exc:
        raise ConfigError(f"{args.config}: {exc}") from None
    print(f"run the shards with `tfganaug train {args.config} --out {run_dir} --shard i/{args.shards}` (or "
          f"--shard auto in a job array), or start workers with `tfganaug worker {run_dir}`; then "
          f"`tfganaug report {run_dir}`")
    return 0


def _planned_folder(path):
    from tfganaug.sharing.tasks import Plan

    run_dir = Path(path)
    found = Plan.load(run_dir)
    if found is None:
        raise UserError(f"{run_dir} has no task plan (tasks/plan.json); run `tfganaug plan EXP.yaml --out {run_dir}`")
    return run_dir, found


def _worker(args):
    from tfganaug.experiment.work import work

    run_dir, _ = _planned_folder(args.run_dir)
    only = set(args.task) if args.task else None
    failed = work(run_dir, retry_failed=args.retry_failed, wait=not (args.no_wait or only), only=only)
    if failed:
        print(f"error: {failed} task(s) failed in this worker; see `tfganaug status {run_dir}`", file=sys.stderr)
    return 1 if failed else 0


def _status(args):
    from tfganaug.sharing.tasks import describe_status

    _, found = _planned_folder(args.run_dir)
    print("\n".join(describe_status(found)))
    states = found.states()
    return 0 if len(states["done"]) == len(found.tasks) else 1


def _merge(args):
    from tfganaug.experiment.merge import merge_runs

    merge_runs(args.runs, args.out, overrides=args.overrides)
    print(f"merged {len(args.runs)} run folders into {args.out}")
    return 0
