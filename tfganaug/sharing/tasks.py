"""The tasks of a run: the unit of work that processes, machines and schedulers share.

A task is every (group, seed) run of one sweep point and seed that shares a trained model (a GAN
or a CycleGAN), so that no two processes ever train the same model; a run that shares nothing is
a task of its own. `tfganaug plan` writes the task list into `<run>/tasks/plan.json`; each task
then leaves `tasks/task-<i>.json` (host, pid, scheduler ids, start and end, state) and, when it
failed, `tasks/task-<i>.traceback.txt`. Nothing here imports TensorFlow: `tfganaug status` and the
partition tests are fast.
"""

import contextlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass

from tfganaug.errors import UserError
from tfganaug.files import inside, path_component, read_json, write_text
from tfganaug.layout import RUNS_DIR
from tfganaug.sharing.locks import FileLock
from tfganaug.training.gan_folder import stable_hash

TASKS_DIR = "tasks"
PLAN_FILE = "plan.json"
SCHEDULER_IDS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX",
                 "HOSTNAME", "RAY_JOB_ID")
RESOURCES = ("CUDA_VISIBLE_DEVICES", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")  # what executors set
STATES = ("done", "running", "failed", "missing")


@contextlib.contextmanager
def planned_locks(run_dir):
    """Inside, this process locks as `run_dir`'s plan says (flock or a lease), whatever the environment says:
    a serial `train` or an `evaluate-gan` into a planned folder must meet its workers' locks, and a flock
    never sees a lease. Without a plan, nothing changes."""
    from tfganaug.sharing.locks import LEASE_ENV, MODE_ENV

    plan = Plan.load(run_dir)
    saved = {name: os.environ.get(name) for name in (MODE_ENV, LEASE_ENV)}
    if plan is not None:
        plan.use_locks()
    try:
        yield plan
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class Task:
    """One task: runs of the sweep point in `folder` ("" without a sweep) with one seed.

    Attributes:
        index: its place in the plan (stable for a config).
        folder: the sweep point's subfolder of the run ("<key>=<value>"), or "".
        point: the sweep value, or None.
        seed: the seed of all its runs.
        groups: indexes into the point's `groups`, in config order.
        labels: those groups' labels.
        models: what its runs share ("gan acgan", "cyclegan tshirt-shirt"); empty when nothing.
        seconds: its estimated time on the planning machine, or None.
    """

    index: int
    folder: str
    point: object
    seed: int
    groups: tuple
    labels: tuple
    models: tuple
    seconds: float = None

    def describe(self):
        where = f"{self.folder}, " if self.folder else ""
        shared = f" (sharing {', '.join(self.models)})" if self.models else ""
        return f"{where}seed {self.seed}: {', '.join(self.labels)}{shared}"


def point_configs(config):
    """[(sweep value or None, its subfolder or "", its config)]: the sweep's points, or the run itself."""
    if not config.sweep:
        return [(None, "", config)]
    return [(value, path_component(f"{config.sweep.key}={value}"), config.sweep_point(value))
            for value in config.sweep.values]


def shared_models(config, group):
    """{key: name} of the trained models `group` uses (the same settings give the same key)."""
    found = {}
    if group.type == "gan":
        settings = {k: v for k, v in group.gan.key_dump().items() if k != "sample_every"}
        found[f"gan:{stable_hash(settings)}"] = f"gan {group.gan.model}"
    for name in sorted({t.model for t in getattr(group, "translations", [])}):
        found[f"cyclegan:{name}"] = f"cyclegan {name}"
    return found


def make_tasks(config):
    """The run's tasks, in a stable order: sweep point, then seed, then first group."""
    tasks = []
    for value, folder, point in point_configs(config):
        for seed in point.seeds:
            clusters = []  # [(model keys, group indexes, model names)], merged where they share a key
            for index, group in enumerate(point.groups):
                models = shared_models(point, group)
                keys, groups, names = set(models), [index], dict(models)
                for cluster in [c for c in clusters if c[0] & keys]:
                    clusters.remove(cluster)
                    keys |= cluster[0]
                    groups = cluster[1] + groups
                    names = {**cluster[2], **names}
                clusters.append((keys, sorted(groups), names))
            for _, groups, names in sorted(clusters, key=lambda c: c[1][0]):
                tasks.append(Task(len(tasks), folder, value, seed, tuple(groups),
                                  tuple(point.groups[g].label for g in groups), tuple(sorted(set(names.values())))))
    return tasks


def assign_shards(weights, shards):
    """[[task indexes] per shard]: the heaviest task first to the lightest shard (longest processing
    time first), each shard's list in task order; equal `weights` give counts that differ by at most one."""
    loads, members = [0.0] * shards, [[] for _ in range(shards)]
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        lightest = min(range(shards), key=lambda s: (loads[s], s))
        loads[lightest] += weights[index]
        members[lightest].append(index)
    return [sorted(m) for m in members]


def config_key(config):
    """A hash of everything in `config` that changes results (`runtime`, `output`, `description` aside)."""
    dump = config.key_dump()
    for section in ("runtime", "output", "description"):
        dump.pop(section, None)
    return stable_hash(dump)


class Plan:
    """The task list of a run folder (`<run>/tasks/plan.json`) and the state of each task.

    Args:
        run_dir: the run folder.
        tasks: [`Task`].
        shards: how many shards `tfganaug plan --shards` asked for.
        key: `config_key` of the planned config.
        lock: "flock" or "lease": how every process of the run locks tasks and models.
        lease_seconds: a lease's grace period (lease mode).
        threads: TensorFlow intra-op threads of every task's process (`pin_intra_op_threads`): the
            count the serial run would use, so that every process gives its numbers to the last bit.
        precision: the Keras dtype policy `runtime.mixed_precision: auto` stands for in every task, decided
            once when planning (None when no point of the config says auto): machines of other CPUs would
            each decide otherwise.
    """

    def __init__(self, run_dir, tasks, shards=1, key=None, lock="flock", lease_seconds=None, threads=None,
                 precision=None):
        self.run_dir, self.tasks, self.shards, self.key = run_dir, tasks, shards, key
        self.lock, self.lease_seconds, self.threads, self.precision = lock, lease_seconds, threads, precision

    @staticmethod
    def path(run_dir):
        return run_dir / TASKS_DIR / PLAN_FILE

    @classmethod
    def load(cls, run_dir):
        """The plan of `run_dir`, or None when it has none."""
        raw = read_json(cls.path(run_dir), what="planning again")
        if raw is None:
            return None
        tasks = [Task(**{**t, "groups": tuple(t["groups"]), "labels": tuple(t["labels"]),
                         "models": tuple(t["models"])}) for t in raw["tasks"]]
        return cls(run_dir, tasks, raw["shards"], raw["config_key"], raw["lock"], raw.get("lease_seconds"),
                   raw.get("threads"), raw.get("precision"))

    def write(self):
        write_text(self.path(self.run_dir), json.dumps(
            {"config_key": self.key, "shards": self.shards, "lock": self.lock, "lease_seconds": self.lease_seconds,
             "threads": self.threads, "precision": self.precision, "tasks": [asdict(t) for t in self.tasks]},
            indent=1))

    def shard(self, index, shards=None):
        """The tasks of shard `index` of `shards` (default: the planned count), balanced by estimate."""
        shards = shards or self.shards
        if not 0 <= index < shards:
            raise UserError(f"--shard {index}/{shards}: the index must be from 0 to {shards - 1}")
        weights = [t.seconds if t.seconds is not None else 1.0 for t in self.tasks]
        return [self.tasks[i] for i in assign_shards(weights, shards)[index]]

    def use_locks(self):
        """Make this process, and the processes it starts, lock as the plan says."""
        from tfganaug.sharing.locks import LEASE_ENV, MODE_ENV

        os.environ[MODE_ENV] = self.lock
        if self.lease_seconds:
            os.environ[LEASE_ENV] = str(self.lease_seconds)

    # The files of one task.
    def _file(self, task, suffix):
        return self.run_dir / TASKS_DIR / f"task-{task.index}{suffix}"

    def lock_for(self, task):
        return FileLock(self._file(task, ".lock"), self.lock, self.lease_seconds)

    def record(self, task):
        return read_json(self._file(task, ".json"), what="treating the task as not run") or {}

    def traceback_file(self, task):
        return self._file(task, ".traceback.txt")

    def write_record(self, task, **fields):
        """Merge `fields` into the task's record, with who is running it; a task done (its runs written)
        keeps its "done": a late "failed" or "interrupted" of a second attempt never replaces it."""
        if fields.get("state") in ("failed", "interrupted") and self.is_done(task):
            return self.record(task)
        ids = {k: os.environ[k] for k in SCHEDULER_IDS if k in os.environ}
        resources = {k: os.environ[k] for k in RESOURCES if k in os.environ}
        record = {**self.record(task), "task": task.index, "host": socket.gethostname(), "pid": os.getpid(),
                  "scheduler": ids, "resources": resources, **fields}
        write_text(self._file(task, ".json"), json.dumps(record, indent=1))
        return record

    def run_files(self, task):
        folder = self.run_dir / task.folder if task.folder else self.run_dir
        return [inside(folder, RUNS_DIR, f"{label}__seed{task.seed}.json") for label in task.labels]

    def is_done(self, task):
        return self.record(task).get("state") == "done" and all(p.exists() for p in self.run_files(task))

    def state(self, task):
        """(state, record): done, running (its lock is held), failed (with a traceback), or missing
        (never started, or its process died: any worker claims it again)."""
        record = self.record(task)
        if self.is_done(task):
            return "done", record
        holder = self.lock_for(task).holder()
        if holder is not None:
            return "running", {**record, "holder": holder}
        if record.get("state") == "failed":
            return "failed", record
        return "missing", record

    def states(self):
        """{state: [(task, record)]} for every state of `STATES`."""
        found = {s: [] for s in STATES}
        for task in self.tasks:
            state, record = self.state(task)
            found[state].append((task, record))
        return found


def index_ranges(indexes):
    """'0-2,5,7-8': indexes as `sbatch --array=` takes them."""
    indexes, parts = sorted(set(indexes)), []
    for i in indexes:
        if parts and parts[-1][1] == i - 1:
            parts[-1][1] = i
        else:
            parts.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def describe_status(plan):
    """The lines `tfganaug status` prints."""
    states = plan.states()
    counts = ", ".join(f"{len(states[s])} {s}" for s in STATES)
    lines = [f"{plan.run_dir}: {len(plan.tasks)} tasks: {counts}"]
    now = time.time()
    for state in STATES:
        for task, record in states[state]:
            who = record.get("holder") or (f"{record['host']}:{record['pid']}" if "host" in record else "")
            took = ""
            if "started" in record:
                took = f"{(record.get('ended') or now) - record['started']:.0f} s"
            extra = f"  {record['error']}" if state == "failed" and record.get("error") else ""
            lines.append(f"  task {task.index:<4d} {state:8s} {task.describe()}  {who} {took}{extra}".rstrip())
    rerun = [t.index for s in ("failed", "missing") for t, _ in states[s]]
    if rerun:
        shards = {i for i in range(plan.shards) for t in plan.shard(i) if t.index in rerun}
        lines.append(f"not done: tasks {index_ranges(rerun)}; shards of {plan.shards} to run again: "
                     f"--array={index_ranges(shards)} (or start `tfganaug worker {plan.run_dir}`)")
    if states["failed"]:
        lines.append(f"tracebacks: {plan.run_dir / TASKS_DIR}/task-<i>.traceback.txt")
    return lines


def parse_shard(text, planned=None, env=None):
    """(index, count) of `--shard i/N`, or of `--shard auto`: the index is `SLURM_ARRAY_TASK_ID` or
    `JOB_COMPLETION_INDEX` itself and the count `planned` (the plan's shard count), so that a resubmission
    of some shards (`sbatch --array=2,5`, as `tfganaug status` prints it) runs those very shards. Without a
    plan yet, a Slurm array's count is its highest index + 1 (`SLURM_ARRAY_TASK_MAX`)."""
    env = os.environ if env is None else env
    if text == "auto":
        if "SLURM_ARRAY_TASK_ID" in env:
            source = "SLURM_ARRAY_TASK_ID"
            count = planned or int(env.get("SLURM_ARRAY_TASK_MAX", -1)) + 1
        elif "JOB_COMPLETION_INDEX" in env:
            source, count = "JOB_COMPLETION_INDEX", planned
        else:
            raise UserError("--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX "
                            "(a Kubernetes Indexed Job) is set; give --shard i/N")
        index = int(env[source])
        if not count:
            raise UserError(f"--shard auto: {source}={index} but the run folder has no plan to take the shard count "
                            "from; run `tfganaug plan EXP.yaml --out RUN --shards N` first")
        if not 0 <= index < count:
            raise UserError(f"--shard auto: {source}={index}, but the plan has {count} shards (0 to {count - 1}): "
                            f"submit indexes 0 to {count - 1} only (as `tfganaug status RUN` prints them), or plan "
                            f"again with --shards {index + 1} or more")
        return index, count
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r}: expected i/N (e.g. 0/4) or auto") from None
    if not count or not 0 <= index < count:
        raise UserError(f"--shard {text}: shard {index} of {count}: the index must be from 0 to N-1 "
                        "(plan with --shards N)")
    return index, count
