"""Plan, work and gather: one experiment run by many processes into one run folder.

`plan` checks everything, fetches the data and writes the task list (`tfganaug.sharing.tasks`); `run_shard`
and `work` run tasks, each under its own lock, writing run records and no summary; `report` gathers
the records into what a serial `train` writes (GAN metrics, results, plots, exports, report). The
folder lock is held only while planning and gathering.
"""

import math
import sys
import time
import traceback
from dataclasses import replace

from tfganaug.config import to_yaml
from tfganaug.distribute import intra_op_threads, pin_intra_op_threads, precision_policy, runtime_scope
from tfganaug.errors import UserError
from tfganaug.experiment.builders import RunData, make_splits
from tfganaug.experiment.estimate import distinct_gans, used_cyclegans, check_models, estimate_times
from tfganaug.experiment.progress import duration
from tfganaug.experiment.models import RunModels
from tfganaug.experiment.planning import planned_size
from tfganaug.experiment.runner import (check_metric, check_runtime, gather, gather_sweep, refuse_other_config, run_key,
                                        run_path, run_records)
from tfganaug.files import folder_lock, guarded_writes, read_json, write_text
from tfganaug.layout import CONFIG_FILE
from tfganaug.sharing.locks import LeaseLost, lease_seconds as checked_lease, lock_mode
from tfganaug.sharing.tasks import TASKS_DIR, Plan, config_key, make_tasks, point_configs, shared_models

WAIT_SECONDS = 2.0  # how often a worker looks again at tasks other processes are running


def _task_seconds(point, splits, times, tasks):
    """{task index: estimated seconds} of the tasks of one sweep point, from `estimate_times`."""
    classifier = times[0]
    c = point.classifier
    gan_keys = [next(iter(shared_models(point, g))) for g in point.groups if g.type == "gan"]
    distinct = list(dict.fromkeys(gan_keys))
    per_model = {key: t.seconds_per_run for key, t in zip(distinct, times[1:1 + len(distinct_gans(point))])}
    cyclegans = times[1 + len(distinct_gans(point)):]
    per_model.update({f"cyclegan:{cfg.name}": t.seconds_per_run for cfg, t in zip(used_cyclegans(point), cyclegans)})
    seconds = {}
    for task in tasks:
        total, models = 0.0, set()
        for g in task.groups:
            group = point.groups[g]
            steps = math.ceil(planned_size(group, splits) / c.batch_size) * c.epochs
            total += classifier.setup_seconds + steps * classifier.step_seconds
            models |= set(shared_models(point, group))
        seconds[task.index] = round(total + sum(per_model.get(m, 0.0) for m in models), 1)
    return seconds


def plan(config, run_dir, shards=1, estimate=True, lock=None, lease_seconds=None, overwrite=False, log=print,
         wait=False, threads=None):
    """Check `config` (data fetched, every model built), then write the resolved config and the task
    list into `run_dir`; print the estimated hours per shard; return the `Plan`.

    Args:
        shards: how many shards to balance the tasks into (by estimate; by count without `estimate`).
        estimate: time a few steps of each model here (as `train --dry-run`).
        lock, lease_seconds: how the run's processes lock (`tfganaug.sharing.locks`); kept in the plan (default:
            the folder's old plan's, else the environment's).
        overwrite: replace the plan and runs of another config.
        wait: wait for the folder lock instead of refusing (shards that plan for themselves).
        threads: TensorFlow intra-op threads of every task (default: the folder's old plan's, else this
            process's, as a serial run here would have): the same count in every process gives the serial
            run's numbers to the last bit (on the same CPU model).
    """
    if config.runtime.distribute == "multi_worker":
        raise UserError("runtime.distribute: multi_worker trains each model on several machines together; tasks "
                        "are independent runs: plan with runtime.distribute one_device or mirrored")
    previous = Plan.load(run_dir)  # a re-plan keeps its lock mode, lease and thread count unless given
    mode = lock_mode(lock or (previous.lock if previous else None))
    grace = checked_lease(lease_seconds or (previous.lease_seconds if previous else None)) if mode == "lease" else None
    threads = threads or (previous.threads if previous else None) or intra_op_threads()
    # Decided here, once for every task: each machine deciding `auto` for itself may train a seed's groups
    # in two precisions on a cluster of mixed CPUs.
    auto = any(point.runtime.mixed_precision == "auto" for _, _, point in point_configs(config))
    precision = ((previous.precision if previous else None) or precision_policy("auto")) if auto else None
    tasks = make_tasks(config)
    seconds = {}
    for _, folder, point in point_configs(config):
        splits = make_splits(point.data)  # fetched once, here
        check_metric(point, splits.train)
        mine = [t for t in tasks if t.folder == folder]
        if estimate:
            seconds.update(_task_seconds(point, splits, estimate_times(point, splits), mine))
        else:
            check_models(point, splits)
    tasks = [replace(t, seconds=seconds.get(t.index)) for t in tasks]
    with folder_lock(run_dir, block=wait, mode=mode, lease_seconds=grace):  # the plan's mode, not the env's
        old = Plan.load(run_dir)
        if old is not None and old.key != config_key(config) and not overwrite:
            raise UserError(f"{run_dir} was planned from another config; choose a new --out, or add --overwrite "
                            "to plan this config there (finished runs whose settings did not change are kept)")
        refuse_other_config(run_dir, config, overwrite)
        write_text(run_dir / CONFIG_FILE, to_yaml(config))
        for _, folder, point in point_configs(config):
            if folder:
                write_text(run_dir / folder / CONFIG_FILE, to_yaml(point))
        if old is not None and old.key != config_key(config):
            _refuse_held_tasks(old)
            # The old config's task records would mark this config's tasks done: they start afresh
            # (its finished runs whose settings did not change are still found by their run keys).
            for stale in (run_dir / TASKS_DIR).glob("task-*"):
                stale.unlink()
        result = Plan(run_dir, tasks, shards, config_key(config), mode, grace, threads, precision)
        result.write()
    for line in describe_shards(result, estimate):
        log(line)
    return result


def _refuse_held_tasks(old):
    """A `UserError` naming the holders when live workers of the `old` plan hold task locks (each tried
    without waiting): deleting a held lock file would let a second worker run that task beside them."""
    held = [(task.index, holder) for task in old.tasks if (holder := old.lock_for(task).holder()) is not None]
    if held:
        who = ", ".join(f"task {index} by {holder}" for index, holder in held)
        raise UserError(f"{old.run_dir}: workers of its old plan are running ({who}); stop them (or wait for "
                        f"them: `tfganaug status {old.run_dir}`) before planning another config there")


def describe_shards(plan, estimated=True):
    """One line per shard: its tasks and, when estimated, its hours."""
    lines = [f"{len(plan.tasks)} tasks in {plan.run_dir}, {plan.shards} shard(s):"]
    for i in range(plan.shards):
        tasks = plan.shard(i)
        hours = f", about {duration(sum(t.seconds or 0 for t in tasks))} here" if estimated else ""
        lines.append(f"  shard {i}: {len(tasks)} tasks{hours}")
    return lines


def planned(config, run_dir, log=print, shards=None, overwrite=False, threads=None, estimate=False):
    """The plan of `run_dir` for `config`: read, or made (in `shards` shards, with `threads`, estimated
    only with `estimate`: shards that plan for themselves do not wait for it) when there is none, or, with
    `overwrite`, when it is another config's (keeping its lock mode, lease and thread count unless
    `threads` is given: see `plan`)."""
    found = Plan.load(run_dir)
    if found is None:
        found = plan(config, run_dir, shards=shards or 1, estimate=estimate, log=log, wait=True, threads=threads)
    elif found.key != config_key(config) and overwrite:
        found = plan(config, run_dir, shards=shards or found.shards, estimate=estimate, overwrite=True, log=log,
                     wait=True, threads=threads)
    elif found.key != config_key(config):
        raise UserError(f"{run_dir} was planned from another config; add --overwrite to plan this one there "
                        "(finished runs whose settings did not change are kept), or choose another --out")
    return found


def planned_runtime(plan, runtime):
    """`runtime` with `mixed_precision: auto` replaced by the policy `plan` decided (older plans decide none)."""
    if runtime.mixed_precision == "auto" and plan.precision:
        return runtime.model_copy(update={"mixed_precision": plan.precision})
    return runtime


def _verbose(verbose):
    return verbose if verbose is not None else (1 if sys.stdout.isatty() else 2)


def run_task(plan, config, task, log=print, verbose=None):
    """Run one task's runs (its lock must be held), recording its start, end and state; True when done.

    A failure is recorded with its traceback in `tasks/task-<i>.traceback.txt`; an interrupt is
    recorded and raised again."""
    point = next(p for _, folder, p in point_configs(config) if folder == task.folder)
    folder = plan.run_dir / task.folder if task.folder else plan.run_dir
    log(f"task {task.index}: {task.describe()}")
    plan.write_record(task, state="running", started=time.time(), ended=None, error=None,
                      intra_op_threads=intra_op_threads())
    try:
        with runtime_scope(planned_runtime(plan, point.runtime)) as strategy:
            check_runtime(point, strategy)  # what `train` refuses up front
            data = RunData(point)
            models = RunModels(point, folder, data, log, _verbose(verbose))
            run_records(point, folder, data, models, log, _verbose(verbose),
                        [(point.groups[g], task.seed) for g in task.groups])
    except KeyboardInterrupt:
        plan.write_record(task, state="interrupted", ended=time.time())
        raise
    except LeaseLost:
        raise  # nothing more is written: the task is another process's now
    except Exception as exc:  # recorded for `status`; the other tasks go on
        write_text(plan.traceback_file(task), traceback.format_exc())
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        plan.write_record(task, state="failed", ended=time.time(), error=error)
        log(f"task {task.index} failed: {error} (traceback in {plan.traceback_file(task)})")
        return False
    plan.write_record(task, state="done", ended=time.time())
    return True


def _claim(plan, config, task, block, log, verbose):
    """Run `task` under its lock unless it is done (or, without `block`, held elsewhere); every file the
    task writes first checks that the lock is still this process's (a lease can be lost: see
    `tfganaug.sharing.locks`). None: not run (or stopped on losing the lock); else whether it succeeded."""
    lock = plan.lock_for(task)
    if plan.is_done(task) or not lock.acquire(block=block, poll=WAIT_SECONDS):
        return None

    def check():
        if not lock.still_held():
            raise LeaseLost(f"task {task.index}: its lease was taken by {lock.holder() or 'another process'}")

    try:
        if plan.is_done(task):  # finished by another process while this one waited
            return None
        with guarded_writes(check):
            return run_task(plan, config, task, log, verbose)
    except LeaseLost as exc:
        log(f"{exc} (this process stalled longer than the lease); it stops here without writing")
        return None
    finally:
        lock.release()


def _take_part(plan, log):
    """Make this process one of `plan`'s: its locks, its TensorFlow thread count (before TensorFlow starts)."""
    plan.use_locks()
    if plan.threads:  # plans of older versions have none
        pin_intra_op_threads(plan.threads, log)


def run_shard(config, run_dir, index, count=None, log=print, verbose=None, overwrite=False, threads=None):
    """Run the tasks of shard `index` of `count` (default: as planned); a task another process runs is
    waited for; `overwrite`, `threads`: as `planned`. Returns the number of its tasks that failed."""
    found = planned(config, run_dir, log, count, overwrite, threads)
    _take_part(found, log)
    tasks = found.shard(index, count)
    log(f"shard {index}/{count or found.shards}: {len(tasks)} of {len(found.tasks)} tasks")
    failed = sum(_claim(found, config, task, True, log, verbose) is False for task in tasks)
    return failed


def work(run_dir, log=print, verbose=None, retry_failed=False, wait=True, only=None):
    """Claim and run tasks of `run_dir` (those whose index is in `only`, default all) until none are
    left: not done, not failed (unless `retry_failed`) and not running elsewhere (a task of `only` is
    waited for instead); with `wait`, stay while other processes run tasks, so that a task whose process
    died is claimed again. Returns the number of tasks this worker failed."""
    from tfganaug.config import load_config

    found = Plan.load(run_dir)
    if found is None:
        raise UserError(f"{run_dir} has no task plan ({run_dir}/tasks/plan.json); run `tfganaug plan EXP.yaml --out "
                        f"{run_dir}` first")
    _take_part(found, log)
    config = load_config(run_dir / CONFIG_FILE)
    mine_failed, skip = 0, set()
    while True:
        ran = False
        others = False
        for task in found.tasks:
            if task.index in skip or (only is not None and task.index not in only) or found.is_done(task):
                continue
            state, _ = found.state(task)
            if state == "failed" and not retry_failed:
                continue
            if state == "running" and only is None:
                others = True
                continue
            # A task asked for by index (a scheduler's retry of it) waits for its lock: the lease of a killed
            # attempt runs out, or is taken at once when that attempt died on this machine.
            outcome = _claim(found, config, task, only is not None, log, verbose)
            if outcome is None:
                others = others or not found.is_done(task)
                continue
            ran = True
            if not outcome:
                mine_failed += 1
                skip.add(task.index)  # not again in this worker
        if not ran and not (others and wait):
            return mine_failed
        if not ran:
            time.sleep(WAIT_SECONDS)


def _records(point, folder):
    """The finished run records of one point, in the order a serial `train` makes them."""
    records = []
    for group in point.groups:
        for seed in point.seeds:
            record = read_json(run_path(folder, group, seed), what="running it again")
            if record is not None and record.get("key") == run_key(point, group, seed):  # not another config's
                records.append(record)
    return records


def _refuse_mixed_precisions(run_dir, records):
    """A `UserError` naming the runs of each precision when `records` ([(point folder, run record)]) trained
    in more than one: a paired difference would compare a bfloat16 run with a float32 one."""
    runs = {}
    for folder, record in records:
        if record.get("precision"):  # records of older versions have none
            runs.setdefault(record["precision"], []).append(f"{folder}/{record['group']} seed {record['seed']}"
                                                             if folder else f"{record['group']} seed {record['seed']}")
    if len(runs) > 1:
        shown = "; ".join(f"{policy}: {', '.join(names)}" for policy, names in sorted(runs.items()))
        raise UserError(f"{run_dir}: its runs trained in different precisions ({shown}); set runtime.mixed_precision "
                        "to one of them, delete the other runs' records (runs/<group>__seed<n>.json) and run them "
                        "again before reporting")


def report(run_dir, partial=False, log=print):
    """Gather the tasks of `run_dir` into its results, GAN metrics, plots, exports and report (what a
    serial `train` writes); refused while tasks are not done, unless `partial`."""
    from tfganaug.config import load_config

    found = Plan.load(run_dir)
    states = found.states()
    pending = {s: len(states[s]) for s in ("running", "failed", "missing") if states[s]}
    if pending and not partial:
        raise UserError(f"{run_dir}: {', '.join(f'{n} {s}' for s, n in pending.items())} of {len(found.tasks)} tasks "
                        f"(see `tfganaug status {run_dir}`); run them, or add --partial to report the finished ones")
    config = load_config(run_dir / CONFIG_FILE)
    if found.threads:  # the GAN metrics' float sums too: a report job on a node of other cores gives the serial run's
        pin_intra_op_threads(found.threads, log)
    points, finished = [], [(value, name, point, _records(point, run_dir / name if name else run_dir))
                            for value, name, point in point_configs(config)]
    _refuse_mixed_precisions(run_dir, [(name, r) for _, name, _, records in finished for r in records])
    with (folder_lock(run_dir, mode=found.lock, lease_seconds=found.lease_seconds),
          runtime_scope(planned_runtime(found, config.runtime))):
        for value, folder_name, point, records in finished:
            folder = run_dir / folder_name if folder_name else run_dir
            if not records:
                log(f"{folder}: no finished run yet")
                continue
            if value is not None:
                log(f"\n=== sweep: {config.sweep.key} = {value} ===")
            data = RunData(point)
            points.append((value, gather(point, folder, data, records, RunModels(point, folder, data, log), log)))
        if not points:
            raise UserError(f"{run_dir}: no run has finished yet, so there is nothing to report; see `tfganaug "
                            f"status {run_dir}`")
        if config.sweep:
            gather_sweep(config, run_dir, points, log)
    return points
