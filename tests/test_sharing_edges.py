"""The edges a cluster user meets first (issue 43): leases on shaky shared file systems, retried tasks,
thread counts per worker and per pod, one precision per plan, held locks and file systems without flock,
the Kubernetes manifest."""

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

from tfganaug.errors import UserError
from tfganaug.sharing.locks import FileLock, holder_name
from tfganaug.sharing.tasks import Plan, Task

ROOT = Path(__file__).parent.parent
ME = holder_name()


def test_the_kubernetes_job_ignores_evictions_and_limits_cpu_to_the_plans_threads():
    text = (ROOT / "deploy" / "kubernetes_indexed_job.yaml").read_text()
    job = yaml.safe_load(text)
    rules = job["spec"]["podFailurePolicy"]["rules"]
    # The first matching rule applies: an evicted pod that also exited 2 is still only an eviction.
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert any(r["action"] == "FailIndex" and r["onExitCodes"]["values"] == [2] for r in rules[1:])
    container = job["spec"]["template"]["spec"]["containers"][0]
    threads = re.search(r"tfganaug plan .*--threads (\d+)", text).group(1)
    resources = container["resources"]
    assert resources["limits"]["cpu"] == resources["requests"]["cpu"] == threads


def _one_task_plan(run_dir, lease=1.0):
    plan = Plan(run_dir, [Task(0, "", None, 0, (0,), ("g0",), ())], key="k", lock="lease", lease_seconds=lease)
    plan.write()
    return plan


def test_a_lease_holder_whose_file_reads_fail_twice_keeps_its_lease(tmp_path, monkeypatch):
    path, failures, real = tmp_path / "t.lock", [], Path.read_text

    def stale_handle(self, *args, **kwargs):  # NFS after a server restart: the next read works again
        if self == path and len(failures) < 2:
            failures.append(self)
            raise OSError(errno.ESTALE, "Stale file handle")
        return real(self, *args, **kwargs)

    holder = FileLock(path, "lease", 1.0)
    assert holder.acquire()
    monkeypatch.setattr(Path, "read_text", stale_handle)
    try:
        for _ in range(200):
            if len(failures) == 2:
                break
            time.sleep(0.05)
        assert len(failures) == 2  # both beats failed to read ...
        time.sleep(2.5)  # ... and more than twice the lease has gone by since
        assert not holder.lost and holder.still_held()
        other = FileLock(path, "lease", 1.0)
        assert not other.acquire() and other.holder() == ME
    finally:
        monkeypatch.undo()
        holder.release()


STALLED_TASK = """
import contextlib, sys, time, types
from pathlib import Path
from tfganaug.experiment import work
from tfganaug.files import write_text
from tfganaug.sharing.tasks import Plan

run = Path(sys.argv[1])
plan = Plan.load(run)

def run_records(point, folder, data, models, log, verbose, runs):
    print("working", flush=True)
    while not (run / "go").exists():  # SIGSTOPped here, continued after another worker took the task
        time.sleep(0.05)
    write_text(run / "runs" / "g0__seed0.json", "{}")
    return []

work.runtime_scope = contextlib.contextmanager(lambda runtime: (yield types.SimpleNamespace(num_replicas_in_sync=1)))
work.check_runtime = lambda point, strategy: None
work.RunData = lambda point: None
work.RunModels = lambda *args: None
work.run_records = run_records
config = types.SimpleNamespace(sweep=None, groups=["g0"], runtime=types.SimpleNamespace(mixed_precision="off"))
print("outcome", work._claim(plan, config, plan.tasks[0], False, print, 0), flush=True)
"""


def test_a_task_stopped_past_its_lease_writes_nothing_after_another_worker_took_it(tmp_path):
    plan = _one_task_plan(tmp_path)
    task = plan.tasks[0]
    proc = subprocess.Popen([sys.executable, "-c", STALLED_TASK, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        for line in proc.stdout:
            if line.startswith("working"):
                break
        proc.send_signal(signal.SIGSTOP)  # a suspended job: its heartbeat stops too
        time.sleep(2.5)  # past its 1 s lease
        other = plan.lock_for(task)
        assert other.acquire()  # another worker takes the task over
        plan.write_record(task, state="running")
        (tmp_path / "go").touch()
    finally:
        proc.send_signal(signal.SIGCONT)
        out = proc.stdout.read()
        proc.wait(timeout=120)
    try:
        assert "outcome None" in out and f"task 0: its lease was taken by {ME}" in out, out[-3000:]
        assert not (tmp_path / "runs" / "g0__seed0.json").exists()
        assert not plan.traceback_file(task).exists()
        record = plan.record(task)
        assert (record["state"], record["pid"]) == ("running", os.getpid())  # the new worker's record stands
        assert json.loads((tmp_path / "tasks" / "task-0.lock").read_text())["token"] == other._token
    finally:
        other.release()


def test_a_late_failed_record_never_replaces_done(tmp_path):
    plan = _one_task_plan(tmp_path)
    task = plan.tasks[0]
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "g0__seed0.json").write_text("{}")
    plan.write_record(task, state="done", ended=5.0)
    plan.write_record(task, state="failed", error="KeyboardInterrupt")
    assert plan.state(task)[0] == "done" and plan.record(task)["ended"] == 5.0


def test_a_retried_task_takes_its_dead_attempts_lease_here_and_waits_out_another_machines(tmp_path, monkeypatch):
    import tfganaug.config
    from tfganaug.experiment import work
    from tfganaug.sharing.executors import run_task_job

    plan = _one_task_plan(tmp_path)
    monkeypatch.setattr(tfganaug.config, "load_config", lambda path: None)
    ran = []

    def run_task(plan, config, task, log, verbose):
        ran.append(task.index)
        (tmp_path / "runs").mkdir(exist_ok=True)
        (tmp_path / "runs" / "g0__seed0.json").write_text("{}")
        plan.write_record(task, state="done")
        return True

    monkeypatch.setattr(work, "run_task", run_task)
    lease = tmp_path / "tasks" / "task-0.lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    # A killed attempt on this machine (Ray's retry, submitit's requeue), its lease still fresh for 60 s:
    lease.write_text(json.dumps({"holder": f"{socket.gethostname()}:{dead.stdout.strip()}", "token": "old"}))
    assert FileLock(lease, "lease", 60).holder() is None  # nobody alive holds it
    assert run_task_job(str(tmp_path), 0) == 0 and ran == [0]
    # An attempt on another machine: its lease is waited out (1 s here), not refused.
    (tmp_path / "runs" / "g0__seed0.json").unlink()
    lease.write_text(json.dumps({"holder": "elsewhere:1", "token": "other"}))
    assert run_task_job(str(tmp_path), 0) == 0 and ran == [0, 0]


def test_flock_on_a_file_system_without_it_advises_a_lease(tmp_path, monkeypatch):
    import fcntl

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    for call in (lambda lock: lock.acquire(), lambda lock: lock.holder()):
        (tmp_path / "t.lock").touch()
        with pytest.raises(UserError, match=r"cannot flock .*t\.lock: No locks available .*--lock lease"):
            call(FileLock(tmp_path / "t.lock", "flock"))


def test_plan_overwrite_refuses_while_a_live_worker_holds_a_task_lock(tmp_path):
    import yaml

    from tests.conftest import tiny_config, write_npz
    from tfganaug.config import load_config
    from tfganaug.experiment import work

    raw = tiny_config(write_npz(tmp_path / "tiny.npz"), groups=["baseline"])
    path, run, quiet = tmp_path / "tiny.yaml", tmp_path / "run", lambda *_: None
    path.write_text(yaml.safe_dump(raw))
    old = work.plan(load_config(path), run, estimate=False, lock="flock", log=quiet)
    held = old.lock_for(old.tasks[0])
    assert held.acquire()  # a live worker of the old plan
    path.write_text(yaml.safe_dump({**raw, "seeds": [1]}))
    try:
        with pytest.raises(UserError, match=f"workers of its old plan are running \\(task 0 by {ME}\\); stop them"):
            work.plan(load_config(path), run, estimate=False, overwrite=True, log=quiet)
        assert (run / "tasks" / "task-0.lock").exists() and Plan.load(run).key == old.key
    finally:
        held.release()
    assert work.plan(load_config(path), run, estimate=False, overwrite=True, log=quiet).key != old.key


def test_local_workers_plan_with_their_share_of_the_cores(tmp_path, monkeypatch):
    import types

    from tfganaug.experiment import work
    from tfganaug.sharing import commands, executors

    monkeypatch.setattr(executors, "available_cores", lambda: 8)
    seen = {}

    def planned(config, run_dir, overwrite=False, threads=None, **kwargs):
        seen["threads"] = threads
        return types.SimpleNamespace(threads=threads)

    def run_local(run_dir, slots):
        seen["slots"] = slots
        return 0

    monkeypatch.setattr(work, "planned", planned)
    monkeypatch.setattr(work, "report", lambda run_dir: None)
    monkeypatch.setattr(executors, "run_local", run_local)
    args = types.SimpleNamespace(executor="local", gpus=None, workers=2, threads=None, overwrite=False)
    assert commands.train_with_executor(None, tmp_path, args) == 0
    assert seen["threads"] == 4  # 8 cores / 2 workers, not 8 threads in each
    assert [s["TF_NUM_INTRAOP_THREADS"] for s in seen["slots"]] == ["4", "4"]


def test_ray_tasks_ask_for_as_many_cpus_as_the_plans_threads(tmp_path, monkeypatch):
    import types

    from tfganaug.sharing.executors import run_ray

    Plan(tmp_path, [], key="k", threads=3).write()
    asked = {}

    def remote(**options):
        asked.update(options)
        return lambda function: types.SimpleNamespace(remote=None)

    ray = types.SimpleNamespace(is_initialized=lambda: True, remote=remote, cluster_resources=lambda: {"CPU": 16.0})
    monkeypatch.setitem(sys.modules, "ray", ray)
    assert run_ray(tmp_path, log=lambda *_: None) == 0
    assert (asked["num_cpus"], asked["num_gpus"], asked["max_calls"]) == (3, 0, 1)
    ray.cluster_resources = lambda: {"CPU": 2.0}  # a smaller cluster: a task asking for 3 would never start
    assert run_ray(tmp_path, log=lambda *_: None) == 0 and asked["num_cpus"] == 2


@pytest.mark.parametrize("lines, files, cores", [
    ("0::/kubepods/pod1/c1\n", {"kubepods/pod1/c1/cpu.max": "800000 100000\n"}, 8),  # a pod's limit: "8"
    ("0::/\n", {"cpu.max": "150000 100000\n"}, 1),  # 1.5 CPUs: one whole core
    ("0::/\n", {"cpu.max": "max 100000\n"}, None),  # no limit
    ("4:cpu,cpuacct:/docker/x\n1:cpuset:/\n",  # cgroup v1
     {"cpu,cpuacct/docker/x/cpu.cfs_quota_us": "400000\n", "cpu,cpuacct/docker/x/cpu.cfs_period_us": "100000\n"}, 4),
    ("4:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, None),
    ("0::/gone\n", {}, None),  # unreadable: no limit known
])
def test_the_cgroup_cpu_limit_is_read_from_cpu_max_or_cfs_quota(tmp_path, lines, files, cores):
    from tfganaug.cpus import cgroup_cpu_limit

    (tmp_path / "self_cgroup").write_text(lines)
    for name, text in files.items():
        (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / name).write_text(text)
    assert cgroup_cpu_limit(tmp_path / "fs", tmp_path / "self_cgroup") == cores


def test_a_plan_without_threads_in_a_pod_takes_its_cpu_limit_not_the_nodes_cores(monkeypatch):
    from tfganaug import cpus, distribute

    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(64)))  # the node's cores
    monkeypatch.setattr(cpus, "cgroup_cpu_limit", lambda: 8)
    monkeypatch.setattr(distribute.tf.config.threading, "get_intra_op_parallelism_threads", lambda: 0)  # not pinned
    assert cpus.available_cores() == 8
    assert distribute.intra_op_threads() == 8  # what `plan` takes without --threads


def _tiny_plan(tmp_path, **runtime):
    import yaml

    from tests.conftest import tiny_config, write_npz
    from tfganaug.config import load_config

    raw = tiny_config(write_npz(tmp_path / "tiny.npz"), seeds=[0, 1], runtime=runtime)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_auto_precision_is_decided_once_at_plan_time_and_every_task_trains_in_it(tmp_path, monkeypatch):
    import contextlib

    from tfganaug.experiment import work

    decided = []
    monkeypatch.setattr(work, "precision_policy", lambda setting: decided.append(setting) or "mixed_bfloat16")
    plan = work.plan(_tiny_plan(tmp_path), tmp_path / "run", estimate=False, log=lambda *_: None)
    assert decided == ["auto"] and json.loads(Plan.path(tmp_path / "run").read_text())["precision"] == "mixed_bfloat16"
    # A task on a machine that would decide float32 for itself trains in the plan's precision.
    monkeypatch.setattr(work, "precision_policy", lambda setting: "float32")
    runtimes = []
    monkeypatch.setattr(work, "runtime_scope", contextlib.contextmanager(
        lambda runtime: runtimes.append(runtime.mixed_precision) or (yield types.SimpleNamespace(
            num_replicas_in_sync=1))))
    monkeypatch.setattr(work, "check_runtime", lambda point, strategy: None)
    monkeypatch.setattr(work, "RunData", lambda point: None)
    monkeypatch.setattr(work, "RunModels", lambda *args: None)

    def run_records(point, folder, data, models, log, verbose, runs):
        for group, seed in runs:
            (folder / "runs").mkdir(exist_ok=True)
            (folder / "runs" / f"{group.label}__seed{seed}.json").write_text("{}")

    monkeypatch.setattr(work, "run_records", run_records)
    assert work.work(plan.run_dir, log=lambda *_: None) == 0
    assert runtimes == ["mixed_bfloat16", "mixed_bfloat16"]  # both tasks (seeds 0 and 1)
    off = work.plan(_tiny_plan(tmp_path, mixed_precision="off"), tmp_path / "off", estimate=False, log=lambda *_: None)
    assert off.precision is None  # nothing to decide


def test_a_serial_run_decides_auto_precision_once_per_command(tmp_path, monkeypatch):
    from tfganaug import distribute
    from tfganaug.cli import main

    decided, real = [], distribute.precision_policy
    monkeypatch.setattr(distribute, "precision_policy", lambda setting: decided.append(setting) or real(setting))
    config = _tiny_plan(tmp_path, mixed_precision="auto")
    path = tmp_path / "two-groups.yaml"
    path.write_text(yaml.safe_dump({**config.resolved_dump(), "groups": [{"type": "baseline"}, {"type": "duplicate"}],
                                    "output": {"gan_metrics": False}}))
    assert main(["train", str(path), "--out", str(tmp_path / "serial")]) == 0
    assert decided == ["auto"]  # 2 groups x 2 seeds, one decision
    records = json.loads((tmp_path / "serial" / "results.json").read_text())["runs"]
    assert len(records) == 4 and len({r["precision"] for r in records}) == 1


def test_report_refuses_runs_of_two_precisions_naming_them(tmp_path):
    from tfganaug.experiment import work
    from tfganaug.experiment.runner import run_key, run_path

    config = _tiny_plan(tmp_path, mixed_precision="off")
    plan = work.plan(config, tmp_path / "run", estimate=False, log=lambda *_: None)
    for task, precision in zip(plan.tasks, ["float32", "mixed_bfloat16"]):
        group = config.groups[0]
        record = {"group": group.label, "seed": task.seed, "precision": precision,
                  "key": run_key(config, group, task.seed)}
        run_path(plan.run_dir, group, task.seed).parent.mkdir(parents=True, exist_ok=True)
        run_path(plan.run_dir, group, task.seed).write_text(json.dumps(record))
        plan.write_record(task, state="done")
    with pytest.raises(UserError, match=r"different precisions \(float32: baseline seed 0; mixed_bfloat16: "
                                        r"baseline seed 1\); set runtime.mixed_precision"):
        work.report(plan.run_dir, log=lambda *_: None)
