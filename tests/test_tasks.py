"""Tasks, shards, status, locks and bad options, mostly without TensorFlow (a few tests plan or run a tiny
config in this process): see tests/test_scale.py for runs in several processes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfganaug.config import load_config
from tfganaug.errors import UserError
from tfganaug.sharing.locks import FileLock
from tfganaug.sharing.tasks import (Plan, Task, assign_shards, describe_status, index_ranges, make_tasks, parse_shard,
                            point_configs, shared_models)

EXPERIMENTS = sorted((Path(__file__).parent.parent / "experiments").glob("*.yaml"))
ME = f"{socket.gethostname()}:{os.getpid()}"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_the_shards_of_every_shipped_experiment_partition_its_runs(path):
    config = load_config(path)
    tasks = make_tasks(config)
    runs = [(t.folder, g, t.seed) for t in tasks for g in t.groups]
    every = [(folder, g, seed) for _, folder, point in point_configs(config)
             for g in range(len(point.groups)) for seed in point.seeds]
    assert sorted(runs) == sorted(every) and len(runs) == len(set(runs))  # each run in exactly one task
    assert [t.index for t in tasks] == list(range(len(tasks))) and make_tasks(config) == tasks  # stable
    for shards in (1, 2, 3, 7):
        for weights in ([1.0] * len(tasks), [float(1 + (7 * i) % 5) for i in range(len(tasks))]):
            parts = assign_shards(weights, shards)
            assert sorted(i for part in parts for i in part) == list(range(len(tasks)))
        sizes = [len(part) for part in assign_shards([1.0] * len(tasks), shards)]
        assert max(sizes) - min(sizes) <= 1  # equal counts without an estimate
    # Runs that share a trained model (same point and seed) are in one task; runs that share none are alone.
    owner = {(t.folder, g, t.seed): t for t in tasks for g in t.groups}
    for _, folder, point in point_configs(config):
        for seed in point.seeds:
            for a, group_a in enumerate(point.groups):
                keys = set(shared_models(point, group_a))
                if not keys:
                    assert owner[(folder, a, seed)].groups == (a,)
                for b, group_b in enumerate(point.groups):
                    if keys & set(shared_models(point, group_b)):
                        assert owner[(folder, a, seed)] is owner[(folder, b, seed)]


def test_groups_sharing_a_gan_or_a_cyclegan_land_in_one_task_per_seed(tmp_path):
    gan = {"model": "acgan", "network": "mlp", "epochs": 1}
    cyclegan = {"name": "ab", "domain_a": ["c0"], "domain_b": ["c1"], "epochs": 1, "decay_epochs": 0}
    translate = lambda *models: {"type": "translation", "name": "+".join(models),  # noqa: E731
                                 "translations": [{"model": m, "from": "c0", "to": "c1", "count": 2} for m in models]}
    raw = {"name": "t", "seeds": [0, 1], "data": {"source": "npz", "path": "x.npz"},
           "cyclegans": [cyclegan, {**cyclegan, "name": "cd"}],
           "groups": ["baseline",
                      {"type": "gan", "gan": gan, "labeling": "pseudo_label"},
                      {"type": "gan", "name": "other", "gan": {**gan, "epochs": 2}, "labeling": "pseudo_label"},
                      translate("ab"),
                      {"type": "gan", "gan": {**gan, "sample_every": 5}, "labeling": "all_in_one"},
                      translate("cd"), translate("cd", "ab")]}  # the last joins the tasks of ab and cd
    path = tmp_path / "t.yaml"
    path.write_text(json.dumps(raw))
    tasks = make_tasks(load_config(path))
    assert [(t.seed, t.groups) for t in tasks] == [(0, (0,)), (0, (1, 4)), (0, (2,)), (0, (3, 5, 6)),
                                                   (1, (0,)), (1, (1, 4)), (1, (2,)), (1, (3, 5, 6))]
    assert tasks[1].models == ("gan acgan",) and tasks[3].models == ("cyclegan ab", "cyclegan cd")


def test_the_heaviest_task_goes_to_the_lightest_shard():
    # 5 -> s0; 4 -> s1; 3 -> s1 (4 < 5); 3 -> s0 (5 < 7); 1 -> s1 (7 < 8)
    assert assign_shards([5, 4, 3, 3, 1], 2) == [[0, 3], [1, 2, 4]]
    assert assign_shards([1, 1, 1, 1, 1], 2) == [[0, 2, 4], [1, 3]]
    assert assign_shards([2], 3) == [[0], [], []]


def test_shard_indexes_from_slurm_kubernetes_or_the_command_line():
    assert parse_shard("1/4", env={}) == (1, 4)
    # `status` said --array=2,5 of a 6-shard plan: Slurm's task 5 sees MIN=2, COUNT=2; it is shard 5 of 6.
    resubmitted = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "2", "SLURM_ARRAY_TASK_MAX": "5",
                   "SLURM_ARRAY_TASK_COUNT": "2"}
    assert parse_shard("auto", planned=6, env=resubmitted) == (5, 6)
    assert parse_shard("auto", planned=6, env={**resubmitted, "SLURM_ARRAY_TASK_ID": "2"}) == (2, 6)
    # No plan yet (train --shard auto plans first): --array=0-3 is 4 shards.
    first = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"}
    assert parse_shard("auto", env=first) == (1, 4)
    with pytest.raises(UserError, match=r"SLURM_ARRAY_TASK_ID=5, but the plan has 3 shards \(0 to 2\): submit "
                                        r"indexes 0 to 2 only .* or plan again with --shards 6 or more"):
        parse_shard("auto", planned=3, env=resubmitted)
    assert parse_shard("auto", planned=4, env={"JOB_COMPLETION_INDEX": "3"}) == (3, 4)
    with pytest.raises(UserError, match="JOB_COMPLETION_INDEX=3, but the plan has 2 shards"):
        parse_shard("auto", planned=2, env={"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(UserError, match="JOB_COMPLETION_INDEX=0 but the run folder has no plan"):
        parse_shard("auto", env={"JOB_COMPLETION_INDEX": "0"})
    with pytest.raises(UserError, match="neither SLURM_ARRAY_TASK_ID"):
        parse_shard("auto", planned=4, env={})
    with pytest.raises(UserError, match="from 0 to N-1"):
        parse_shard("4/4", env={})
    with pytest.raises(UserError, match="expected i/N"):
        parse_shard("two", env={})


def test_index_ranges_as_sbatch_array_takes_them():
    assert index_ranges([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert index_ranges([3]) == "3"


def _plan_of_four(run_dir):
    tasks = [Task(i, "", None, 0, (i,), (f"g{i}",), ()) for i in range(4)]
    plan = Plan(run_dir, tasks, shards=2, key="k")
    plan.write()
    return Plan.load(run_dir)


def test_status_names_done_running_failed_and_missing_tasks(tmp_path):
    plan = _plan_of_four(tmp_path)
    assert plan.tasks[2] == Task(2, "", None, 0, (2,), ("g2",), ())  # read back as written
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "g0__seed0.json").write_text("{}")
    plan.write_record(plan.tasks[0], state="done", started=1.0, ended=2.0)
    plan.write_record(plan.tasks[1], state="done")  # said done, but its run record is gone: missing
    plan.write_record(plan.tasks[2], state="failed", error="ValueError: boom")
    lock = plan.lock_for(plan.tasks[3])
    assert lock.acquire()
    try:
        states = plan.states()
        assert {s: [t.index for t, _ in v] for s, v in states.items()} == {
            "done": [0], "running": [3], "failed": [2], "missing": [1]}
        assert states["running"][0][1]["holder"] == ME
        record = plan.record(plan.tasks[0])
        assert (record["host"], record["pid"], record["started"], record["ended"]) == (
            socket.gethostname(), os.getpid(), 1.0, 2.0)
        lines = describe_status(plan)
        assert lines[0].endswith("4 tasks: 1 done, 1 running, 1 failed, 1 missing")
        assert any("task 2" in line and "ValueError: boom" in line for line in lines)
        # tasks 1 and 2 to run again; equal estimates: shard 0 holds tasks 0, 2 and shard 1 tasks 1, 3
        assert "not done: tasks 1-2; shards of 2 to run again: --array=0-1" in "\n".join(lines)
    finally:
        lock.release()
    assert plan.state(plan.tasks[3])[0] == "missing"  # its holder let go without finishing


def test_scheduler_ids_go_into_the_task_record(tmp_path, monkeypatch):
    plan = _plan_of_four(tmp_path)
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "991")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    assert plan.write_record(plan.tasks[1], state="running")["scheduler"]["SLURM_ARRAY_JOB_ID"] == "991"
    assert plan.record(plan.tasks[1])["scheduler"]["JOB_COMPLETION_INDEX"] == "2"


@pytest.mark.parametrize("mode", ["flock", "lease"])
def test_a_lock_has_one_holder_named_host_pid_and_its_file_outlives_a_flock_release(tmp_path, mode):
    first, second = FileLock(tmp_path / "a.lock", mode, 5), FileLock(tmp_path / "a.lock", mode, 5)
    assert first.acquire() and not second.acquire()
    assert second.holder() == ME
    first.release()
    assert second.holder() is None
    assert (tmp_path / "a.lock").exists() == (mode == "flock")  # a flock file is never deleted
    assert second.acquire() and not first.acquire()
    second.release()


def _holder_process(path, mode):
    code = (f"import sys, time; from tfganaug.sharing.locks import FileLock; lock = FileLock({str(path)!r}, {mode!r}, 1); "
            "assert lock.acquire(); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("mode", ["flock", "lease"])
def test_a_lock_whose_holder_was_killed_is_taken_again(tmp_path, mode):
    path = tmp_path / "t.lock"
    proc = _holder_process(path, mode)
    lock = FileLock(path, mode, 1)
    try:
        time.sleep(1.5)  # longer than the lease: a live holder's heartbeat keeps it
        assert not lock.acquire() and lock.holder() == f"{socket.gethostname()}:{proc.pid}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert lock.acquire()  # a lease too, at once: its holder, a process of this machine, is gone
    lock.release()


def test_a_lease_taken_over_is_not_deleted_by_its_old_holder(tmp_path):
    path = tmp_path / "t.lock"
    old = FileLock(path, "lease", 60)
    assert old.acquire()
    old._stop.set()  # its heartbeat stalls (a paused process) ...
    os.utime(path, (time.time() - 120, time.time() - 120))  # ... for longer than the lease
    new = FileLock(path, "lease", 60)
    assert new.acquire()  # moves the stale lease aside and takes the lock
    old.release()
    assert path.exists() and new.holder() == ME and json.loads(path.read_text())["token"] == new._token
    new.release()
    assert not path.exists()


def test_local_executor_slots_get_a_gpu_each_and_a_share_of_the_cores():
    from tfganaug.sharing.executors import slot_environments

    two = slot_environments("0,1", cores=8)
    assert [s["CUDA_VISIBLE_DEVICES"] for s in two] == ["0", "1"]
    assert all(s["TF_NUM_INTRAOP_THREADS"] == "4" and "TF_FORCE_GPU_ALLOW_GROWTH" not in s for s in two)
    shared = slot_environments("3", workers=2, cores=3)  # two processes on GPU 3: memory as they need it
    assert [s["CUDA_VISIBLE_DEVICES"] for s in shared] == ["3", "3"]
    assert all(s["TF_NUM_INTRAOP_THREADS"] == "1" and s["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for s in shared)
    assert len(slot_environments(cores=2)) == 1
    with pytest.raises(UserError, match="--gpus 'a,b'"):
        slot_environments("a,b")
    planned = slot_environments("0,1", cores=8, intra_op_threads=8)  # a plan's count: the serial run's numbers
    assert [(s["TF_NUM_INTRAOP_THREADS"], s["TF_NUM_INTEROP_THREADS"]) for s in planned] == [("8", "2")] * 2


PIN = """
import tensorflow as tf
from tfganaug.distribute import intra_op_threads, pin_intra_op_threads
assert intra_op_threads() == {env}  # TF_NUM_INTRAOP_THREADS, before TensorFlow starts
assert pin_intra_op_threads(3, log=print)
tf.reduce_sum(tf.ones([4]))  # TensorFlow starts with the pinned count
assert intra_op_threads() == 3 and tf.config.threading.get_intra_op_parallelism_threads() == 3
assert pin_intra_op_threads(3) and not pin_intra_op_threads(2, log=print)
"""


def test_a_task_process_pins_the_plans_thread_count_before_tensorflow_starts():
    out = subprocess.run([sys.executable, "-c", PIN.format(env=5)], capture_output=True, text=True,
                         env={**os.environ, "TF_NUM_INTRAOP_THREADS": "5"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "TensorFlow already runs here with 3 intra-op threads, the plan says 2" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--shard", "2/2"], "--shard 2/2: shard 2 of 2: the index must be from 0 to N-1"),
    (["--shard", "half"], "--shard 'half': expected i/N (e.g. 0/4) or auto"),
    (["--shard", "auto"], "--shard auto: neither SLURM_ARRAY_TASK_ID"),
    (["--shard", "0/2", "--executor", "local"], "--shard runs one shard in this process; --executor runs every"),
])
def test_bad_shard_options_exit_2_with_a_message(tmp_path, capsys, monkeypatch, args, message):
    from tfganaug.cli import main

    for name in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "t.yaml"
    path.write_text(json.dumps({"name": "t", "data": {"source": "npz", "path": "x.npz"}, "groups": ["baseline"]}))
    assert main(["train", str(path), "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing written


def test_status_worker_and_report_of_an_unplanned_folder_say_what_to_do(tmp_path, capsys):
    from tfganaug.cli import main

    assert main(["status", str(tmp_path)]) == 2
    assert f"{tmp_path} has no task plan (tasks/plan.json); run `tfganaug plan EXP.yaml --out {tmp_path}`" in \
        capsys.readouterr().err
    assert main(["worker", str(tmp_path)]) == 2


def test_on_slurm_the_gather_is_a_job_that_waits_for_the_task_array(tmp_path):
    import contextlib

    from tfganaug.sharing.executors import gather_job, run_task_job, submit_tasks

    class FakeSlurm:  # submitit's AutoExecutor API, recording instead of calling sbatch
        cluster = "slurm"

        def __init__(self):
            self.submitted, self.parameters, self.batched = [], {}, False

        @contextlib.contextmanager
        def batch(self):
            self.batched = True
            yield
            self.batched = False

        def update_parameters(self, **parameters):
            self.parameters.update(parameters)

        def submit(self, function, *args):
            job = type("Job", (), {"job_id": f"77_{len(self.submitted)}" if self.batched else "78"})()
            self.submitted.append((function, args, self.batched, dict(self.parameters)))
            return job

    plan = _plan_of_four(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "g1__seed0.json").write_text("{}")
    plan.write_record(plan.tasks[1], state="done")
    executor = FakeSlurm()
    jobs, gather = submit_tasks(tmp_path, executor, log=lambda line: None)
    assert [(f, a, batched) for f, a, batched, _ in executor.submitted[:3]] == [
        (run_task_job, (str(tmp_path), i), True) for i in (0, 2, 3)]  # one array of the tasks not done
    function, args, batched, parameters = executor.submitted[3]
    assert (function, args, batched, gather.job_id) == (gather_job, (str(tmp_path),), False, "78")
    assert parameters["slurm_dependency"] == "afterany:77"  # after every task of the array has ended


def test_slurm_jobs_get_a_time_limit_from_the_longest_tasks_estimate_and_the_plans_threads(tmp_path):
    from tfganaug.sharing.executors import slurm_defaults

    tasks = [Task(i, "", None, 0, (i,), (f"g{i}",), (), seconds) for i, seconds in enumerate([100.0, 290.0, 50.0])]
    plan = Plan(tmp_path, tasks, shards=1, key="k", threads=2)
    lines = []
    # 3 x 290 s = 14.5 min, rounded up to 15, + 10 minutes; no GPU unless asked.
    assert slurm_defaults(plan, [], lines.append) == {"timeout_min": 25, "cpus_per_task": 2}
    assert "Slurm time limit of every task: 25 min" in lines[0] and "task 1's 290 s" in lines[0]
    lines.clear()
    assert slurm_defaults(plan, ["timeout_min=4", "cpus_per_task=8"], lines.append) == {}  # the user's stand
    assert lines == ["warning: --slurm timeout_min=4 is shorter than task 1's estimate (4.8 min on the planning "
                     "machine): Slurm will kill it; give at least timeout_min=25"]
    lines.clear()
    assert slurm_defaults(plan, ["slurm_time=5", "gpus_per_node=1"], lines.append) == {"cpus_per_task": 2}
    assert lines == []  # 5 minutes > 4.8
    unestimated = Plan(tmp_path, [Task(0, "", None, 0, (0,), ("g0",), ())], key="k", threads=1)
    assert slurm_defaults(unestimated, [], lines.append) == {"timeout_min": 24 * 60, "cpus_per_task": 1}


def test_plan_and_report_lock_as_the_plan_says_and_a_replan_forgets_the_old_configs_tasks(tmp_path, monkeypatch):
    import yaml

    from tests.conftest import tiny_config, write_npz
    from tfganaug.experiment import work
    from tfganaug.experiment.runner import run_path
    from tfganaug.files import LOCK_FILE, folder_lock

    with folder_lock(tmp_path, mode="lease", lease_seconds=60):  # a lease, whatever $TFGANAUG_LOCK says
        assert not FileLock(tmp_path / LOCK_FILE, "lease", 60).acquire()
    modes, real = [], work.folder_lock
    monkeypatch.setattr(work, "folder_lock", lambda folder, **kw: modes.append(kw.get("mode")) or real(folder, **kw))
    monkeypatch.setenv("TFGANAUG_LOCK", "flock")
    raw = tiny_config(write_npz(tmp_path / "tiny.npz"), groups=["baseline"])
    path, run, quiet = tmp_path / "tiny.yaml", tmp_path / "run", lambda *_: None
    path.write_text(yaml.safe_dump(raw))
    plan = work.plan(load_config(path), run, estimate=False, lock="lease", log=quiet)
    plan.write_record(plan.tasks[0], state="done")
    # A run record of another config (its run key differs) is not gathered as this config's.
    stale = run_path(run, load_config(path).groups[0], 0)
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text(json.dumps({"key": "another config's run"}))
    logged = []
    with pytest.raises(UserError, match="no run has finished yet, so there is nothing to report"):
        work.report(run, partial=True, log=logged.append)
    assert modes == ["lease", "lease"] and f"{run}: no finished run yet" in logged
    # Planned again from another config: the old config's task records go (they would mark its tasks done).
    path.write_text(yaml.safe_dump({**raw, "seeds": [1]}))
    with pytest.raises(UserError, match="planned from another config"):
        work.plan(load_config(path), run, estimate=False, log=quiet)
    replanned = work.plan(load_config(path), run, estimate=False, overwrite=True, log=quiet)
    assert not list((run / "tasks").glob("task-*"))
    assert [task for task, _ in replanned.states()["missing"]] == replanned.tasks
    # `train --shard` (and --executor) plans over another config's plan only with --overwrite.
    from tfganaug.cli import main

    path.write_text(yaml.safe_dump({**raw, "seeds": [2]}))
    with pytest.raises(UserError, match="planned from another config; add --overwrite"):
        work.planned(load_config(path), run, log=quiet)
    assert main(["train", str(path), "--out", str(run), "--shard", "0/1", "--overwrite"]) == 0
    again = Plan.load(run)
    assert [t.seed for t in again.tasks] == [2] and again.is_done(again.tasks[0])
    assert (again.lock, again.threads) == ("lease", plan.threads)  # the old plan's lock mode and thread count


def test_a_serial_train_into_a_planned_folder_meets_the_plans_lease_not_the_environments_flock(tmp_path, monkeypatch):
    import yaml

    from tests.conftest import tiny_config, write_npz
    from tfganaug.experiment import work
    from tfganaug.experiment.runner import run_experiment
    from tfganaug.files import LOCK_FILE
    from tfganaug.sharing.locks import holder_name

    monkeypatch.setenv("TFGANAUG_LOCK", "flock")
    path, run = tmp_path / "tiny.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump(tiny_config(write_npz(tmp_path / "tiny.npz"), groups=["baseline"])))
    work.plan(load_config(path), run, estimate=False, lock="lease", log=lambda *_: None)
    worker = FileLock(run / LOCK_FILE, "lease", 60)  # a worker of the plan writing into the folder
    assert worker.acquire()
    try:  # a flock would not see the lease, and two processes would write the folder at once
        with pytest.raises(UserError, match=f"in use by process {holder_name()}"):
            run_experiment(load_config(path), run, log=lambda *_: None)
    finally:
        worker.release()
    assert os.environ["TFGANAUG_LOCK"] == "flock"  # the plan's mode held only while the run did


def test_a_task_refuses_what_train_refuses_up_front(tmp_path, monkeypatch):
    """`runtime.jit_compile: true` on several replicas: a task fails with train()'s message before training."""
    import contextlib

    import yaml

    from tests.conftest import tiny_config, write_npz
    from tfganaug.experiment import work

    raw = tiny_config(write_npz(tmp_path / "tiny.npz"), groups=["baseline"], runtime={"jit_compile": True})
    path, run = tmp_path / "tiny.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump(raw))
    work.plan(load_config(path), run, estimate=False, log=lambda *_: None)

    class TwoReplicas:
        num_replicas_in_sync = 2

    monkeypatch.setattr(work, "runtime_scope", contextlib.contextmanager(lambda runtime: (yield TwoReplicas())))
    trained = []
    monkeypatch.setattr(work, "run_records", lambda *args: trained.append(args))
    assert work.work(run, log=lambda *_: None) == 1 and not trained
    record = Plan.load(run).record(Plan.load(run).tasks[0])
    assert record["state"] == "failed" and "jit_compile: true with 2 replicas" in record["error"]
