"""Running a planned run's tasks on this machine, several at a time, each in a fresh process.

Each task runs in a new Python process (`tfganaug worker RUN --task i`, started by exec: nothing
is forked from a process that has started TensorFlow), whose environment is set before
TensorFlow starts: `CUDA_VISIBLE_DEVICES` to its worker's GPU (without it every process would take
GPU 0, and all its memory), and TensorFlow's intra-op pool to the plan's thread count (every task the
same count, so that their numbers agree to the last bit; a plan `train --executor local` makes gives
each worker its share of the cores, cores / workers), its inter-op pool and OpenMP to that share.
"""

import math
import os
import subprocess
import sys
import threading
from pathlib import Path

from tfganaug.cpus import available_cores
from tfganaug.errors import UserError
from tfganaug.sharing.tasks import TASKS_DIR, Plan


def cores_per_worker(workers, cores=None):
    """Each of `workers` processes' share of `cores` (default: `available_cores()`), at least 1."""
    return max(1, (cores or available_cores()) // workers)


def slot_environments(gpus=None, workers=None, cores=None, intra_op_threads=None):
    """The environment of each worker slot: [{variable: value}].

    Args:
        gpus: "0,1": GPU ids handed out to the slots in turn (None: the devices are left as they are).
        workers: slots (default: one per GPU id, else 1).
        cores: CPU cores to share out (default: those this process may use).
        intra_op_threads: TensorFlow intra-op threads of each slot (a plan's `threads`; default: its share).
    """
    ids = [g.strip() for g in gpus.split(",")] if gpus else []
    if gpus is not None and (not ids or not all(g.isdigit() for g in ids)):
        raise UserError(f"--gpus {gpus!r}: expected GPU ids separated by commas, e.g. 0,1")
    workers = workers or len(ids) or 1
    threads = cores_per_worker(workers, cores)
    slots = []
    for i in range(workers):
        env = {"TF_NUM_INTRAOP_THREADS": str(intra_op_threads or threads),
               "TF_NUM_INTEROP_THREADS": str(min(2, threads)), "OMP_NUM_THREADS": str(threads)}
        if ids:
            env["CUDA_VISIBLE_DEVICES"] = ids[i % len(ids)]
        if workers > max(1, len(ids)) or not ids:
            env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # processes that may share a GPU take memory as they need it
        slots.append(env)
    return slots


def run_local(run_dir, slots, log=print):
    """Run every task of `run_dir` that is not done (failed ones again), `len(slots)` at a time, each
    in a fresh `tfganaug worker RUN --task i` process with its slot's environment; its output goes to
    `tasks/task-<i>.log`. Returns the number of tasks that failed."""
    plan = Plan.load(run_dir)
    queue = [t for t in plan.tasks if not plan.is_done(t)]
    log(f"{len(queue)} of {len(plan.tasks)} tasks to run, {len(slots)} at a time")
    mutex, failed, running = threading.Lock(), [], set()

    def slot(env):
        while True:
            with mutex:
                if not queue:
                    return
                task = queue.pop(0)
            log(f"task {task.index} started: {task.describe()}"
                + (f" (CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']})" if "CUDA_VISIBLE_DEVICES" in env else ""))
            with open(run_dir / TASKS_DIR / f"task-{task.index}.log", "w") as out:
                proc = subprocess.Popen([sys.executable, "-m", "tfganaug.cli", "worker", str(run_dir), "--task",
                                         str(task.index), "--retry-failed"], env={**os.environ, **env},
                                        stdout=out, stderr=subprocess.STDOUT)
                with mutex:
                    running.add(proc)
                proc.wait()
                with mutex:
                    running.discard(proc)
            if proc.returncode == 0 and plan.is_done(task):
                log(f"task {task.index} done")
            else:
                failed.append(task)
                log(f"task {task.index} FAILED (exit {proc.returncode}); its output: "
                    f"{run_dir / TASKS_DIR}/task-{task.index}.log, traceback: {plan.traceback_file(task)}")

    threads = [threading.Thread(target=slot, args=(env,), daemon=True) for env in slots]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)  # a short wait: Ctrl-C and SIGTERM reach this thread
    finally:
        with mutex:
            queue.clear()
            for proc in running:
                proc.terminate()  # an interrupted task records itself as such; a rerun resumes it
    return len(failed)


# Slurm through submitit (`pip install tfganaug[slurm]`): a job array of tasks, then the gather.


def run_task_job(run_dir, index):
    """A submitit job's body: task `index` of `run_dir`, in the job's own fresh process."""
    from tfganaug.experiment.work import work

    failed = work(Path(run_dir), only={index}, retry_failed=True, wait=False)
    plan = Plan.load(Path(run_dir))
    if failed or not plan.is_done(plan.tasks[index]):
        raise RuntimeError(f"task {index} of {run_dir} failed; see `tfganaug status {run_dir}`")
    return index


def gather_job(run_dir):
    """A submitit job's body: `tfganaug report RUN`."""
    from tfganaug.experiment.work import report

    report(Path(run_dir))


def submit_tasks(run_dir, executor, log=print):
    """Submit every task of `run_dir` that is not done as one job array of the submitit `executor`
    and, on Slurm, the gather as a job that starts once they have all ended (`afterany`); return
    (the task jobs, the gather job or None) without waiting for any of them."""
    plan = Plan.load(run_dir)
    todo = [t.index for t in plan.tasks if not plan.is_done(t)]
    if not todo:
        log("every task is done")
        return [], None
    with executor.batch():
        jobs = [executor.submit(run_task_job, str(run_dir), index) for index in todo]
    log(f"submitted {len(jobs)} tasks: jobs {jobs[0].job_id} ... {jobs[-1].job_id}")
    gather = None
    if getattr(executor, "cluster", None) == "slurm":
        executor.update_parameters(slurm_dependency=f"afterany:{jobs[0].job_id.split('_')[0]}")
        gather = executor.submit(gather_job, str(run_dir))
        log(f"the gather (`tfganaug report {run_dir}`) is job {gather.job_id}, after them; follow with "
            f"`tfganaug status {run_dir}`")
    return jobs, gather


def slurm_executor(run_dir, settings):
    """A submitit executor for Slurm, its job files in `tasks/submitit/`; `settings`: ["key=value"]
    of `AutoExecutor.update_parameters` (timeout_min=600, slurm_partition=gpu, gpus_per_node=1, ...)."""
    try:
        import submitit
    except ImportError:
        raise UserError("--executor slurm needs submitit: pip install 'tfganaug[slurm]'") from None
    executor = submitit.AutoExecutor(folder=run_dir / TASKS_DIR / "submitit", cluster="slurm")
    try:
        executor.update_parameters(**slurm_parameters(settings))
    except (TypeError, ValueError) as exc:
        raise UserError(f"--slurm: {exc}") from None
    return executor


def slurm_parameters(settings):
    """{key: value} of `--slurm key=value` settings (whole numbers as int)."""
    parameters = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--slurm {item!r}: expected key=value, e.g. slurm_partition=gpu")
        parameters[key] = int(value) if value.isdigit() else value
    return parameters


# The estimate comes from a few steps on the planning machine and has run low (by up to 1.6x in
# docs/benchmarks/scale_out.json): a limit of 3x plus 10 minutes kills no task that is merely slow.
TIME_FACTOR, TIME_EXTRA_MIN, TIME_UNKNOWN_MIN = 3, 10, 24 * 60


def slurm_defaults(plan, settings, log=print):
    """submitit parameters from `plan` for what `settings` (`--slurm key=value`) leaves out: the time
    limit (`timeout_min`) 3x the longest task's estimate plus 10 minutes (24 hours when the plan has no
    estimate; submitit's own default of 5 minutes kills most tasks), and `cpus_per_task` the plan's
    thread count; no GPU unless asked (`gpus_per_node`). Warns when a given time limit is shorter than
    the longest task's estimate."""
    given = slurm_parameters(settings)
    longest = max((t for t in plan.tasks if t.seconds is not None), key=lambda t: t.seconds, default=None)
    defaults = {}
    limit = given.get("timeout_min", given.get("slurm_time"))
    if limit is None:
        minutes = math.ceil(TIME_FACTOR * longest.seconds / 60) + TIME_EXTRA_MIN if longest else TIME_UNKNOWN_MIN
        defaults["timeout_min"] = minutes
        log(f"Slurm time limit of every task: {minutes} min (" + (
            f"3x the longest task's estimate, task {longest.index}'s {longest.seconds:.0f} s, + {TIME_EXTRA_MIN} min"
            if longest else "the plan has no estimate") + "); --slurm timeout_min=M sets another")
    elif longest and isinstance(limit, int) and limit * 60 < longest.seconds:
        log(f"warning: --slurm {'timeout_min' if 'timeout_min' in given else 'slurm_time'}={limit} is shorter than "
            f"task {longest.index}'s estimate ({longest.seconds / 60:.1f} min on the planning machine): Slurm will "
            f"kill it; give at least timeout_min={math.ceil(TIME_FACTOR * longest.seconds / 60) + TIME_EXTRA_MIN}")
    if plan.threads and "cpus_per_task" not in given and "slurm_cpus_per_task" not in given:
        defaults["cpus_per_task"] = plan.threads
    return defaults


# Ray (`pip install tfganaug[ray]`): each task a Ray task on `ray.init()` or an existing cluster.


def run_ray(run_dir, gpus_per_task=0, address=None, log=print):
    """Run every task of `run_dir` that is not done (failed ones again) as a Ray task with
    `num_gpus=gpus_per_task` (Ray sets its CUDA_VISIBLE_DEVICES), `num_cpus` the plan's thread count
    (what its TensorFlow uses: Ray then places no more tasks on a node than its cores hold; no more
    than the cluster's CPUs, or the task could never start) and `max_calls=1` (a fresh worker process
    per task: TensorFlow's memory and threads start clean), on the running Ray instance, the cluster at
    `address`, or a local one; wait for them and return how many failed."""
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'tfganaug[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address)
    plan = Plan.load(run_dir)
    todo = [t for t in plan.tasks if not plan.is_done(t)]
    cpus = min(plan.threads or 1, int(ray.cluster_resources().get("CPU", 1)) or 1)
    remote = ray.remote(num_gpus=gpus_per_task, num_cpus=cpus, max_calls=1)(run_task_job)
    refs = {remote.remote(str(run_dir), task.index): task for task in todo}
    log(f"{len(refs)} of {len(plan.tasks)} tasks submitted to Ray ({cpus} CPUs, {gpus_per_task} GPU each)")
    failed, pending = 0, list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        task = refs[done[0]]
        try:
            ray.get(done[0])
            log(f"task {task.index} done")
        except ray.exceptions.RayError as exc:  # reported at once, not at the end
            failed += 1
            log(f"task {task.index} FAILED: {str(exc).splitlines()[-1]}; traceback: {plan.traceback_file(task)}")
    return failed
