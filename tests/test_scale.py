"""One experiment run by several processes into one folder (shards, workers, a killed worker), then
gathered by `tfganaug report`: the results a serial `tfganaug train` gives, every metric."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_config, without_timings, write_npz
from tfganaug.cli import main
from tfganaug.distribute import intra_op_threads
from tfganaug.sharing.tasks import Plan

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parent.parent
GAN = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 8}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """(config file, the run folder of a serial `train`): three groups, two sharing a GAN: two tasks."""
    folder = tmp_path_factory.mktemp("scale")
    # float32: at these tiny shapes bfloat16's kernels give the same sums on one thread as on two, and
    # test_a_plan_with_another_thread_count_gives_other_numbers needs float32's thread-dependent ones.
    raw = tiny_config(write_npz(folder / "tiny.npz"), groups=[
        "baseline", {"type": "gan", "gan": GAN, "labeling": "pseudo_label"},
        {"type": "gan", "gan": GAN, "labeling": "all_in_one"}], runtime={"mixed_precision": "off"})
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(folder / "serial")]) == 0
    return path, folder / "serial"


def _assert_close(mine, theirs, rel, where=""):
    """Equal, floats to within `rel` (relative)."""
    if isinstance(mine, dict):
        assert sorted(mine) == sorted(theirs), where
        for key in mine:
            _assert_close(mine[key], theirs[key], rel, f"{where}.{key}")
    elif isinstance(mine, list):
        assert len(mine) == len(theirs), where
        for i, (a, b) in enumerate(zip(mine, theirs)):
            _assert_close(a, b, rel, f"{where}[{i}]")
    elif isinstance(mine, float):
        assert math.isclose(mine, theirs, rel_tol=rel, abs_tol=rel), f"{where}: {mine} != {theirs}"
    else:
        assert mine == theirs, where


def assert_same_results(run, serial_run, rel=0.0):
    """results.json and gan_metrics.json of `run` are those of the serial run (timings aside); floats
    within `rel` when given (the test of a plan whose thread count differs from the serial run's)."""
    mine, theirs = (json.loads((r / "results.json").read_text()) for r in (run, serial_run))
    assert [r["group"] for r in mine["runs"]] == ["baseline", "acgan-pseudo_label", "acgan-all_in_one"]
    if rel:
        _assert_close(without_timings(mine), without_timings(theirs), rel)
        _assert_close(*(json.loads((r / "gan_metrics.json").read_text()) for r in (run, serial_run)), rel)
    else:
        assert without_timings(mine) == without_timings(theirs)
        assert (run / "gan_metrics.json").read_text() == (serial_run / "gan_metrics.json").read_text()
    assert (run / "report.html").exists() and (run / "per_class_accuracy.png").exists()


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "tfganaug.cli", *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(procs, timeout=300):
    """The output of each process, once all have exited 0."""
    outs = []
    try:
        for proc in procs:
            outs.append(proc.communicate(timeout=timeout)[0])
            assert proc.returncode == 0, outs[-1][-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return outs


def test_two_shards_and_a_duplicate_at_once_then_report_give_the_serial_results(serial, tmp_path, capsys):
    config, serial_run = serial
    run = tmp_path / "run"
    # None planned: the first plans (under the folder lock), the others read its plan; the duplicate of
    # shard 0 waits for the task the other copy holds, then finds it done.
    outs = _finish([_cli("train", config, "--out", run, "--shard", shard) for shard in ("0/2", "1/2", "0/2")])
    assert "".join(outs).count("training GAN acgan") == 1  # the groups sharing the GAN share a task
    started = [line.split(":")[0] for out in outs for line in out.splitlines() if line.startswith("task ")]
    assert sorted(started) == ["task 0", "task 1"]  # each task run by one process
    assert not (run / "results.json").exists()  # shards write no summary
    assert Plan.load(run).shards == 2  # as the shards said: `status` names shards of 2 to run again
    assert main(["status", str(run)]) == 0
    assert "2 tasks: 2 done, 0 running, 0 failed, 0 missing" in capsys.readouterr().out
    assert main(["report", str(run)]) == 0
    assert_same_results(run, serial_run)


def _wait_for(condition, timeout=240):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_two_workers_finish_the_task_of_a_killed_one(serial, tmp_path, capsys):
    config, serial_run = serial
    run = tmp_path / "run"
    assert main(["plan", str(config), "--out", str(run), "--shards", "2", "--no-estimate"]) == 0
    plan = Plan.load(run)
    doomed = _cli("worker", run)
    _wait_for(lambda: plan.record(plan.tasks[0]).get("state") == "running")
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate()
    assert plan.state(plan.tasks[0])[0] == "missing"  # its lock died with it: any worker claims it again
    capsys.readouterr()
    assert main(["report", str(run)]) == 2  # refused while tasks are missing
    assert "2 missing of 2 tasks" in capsys.readouterr().err
    outs = _finish([_cli("worker", run), _cli("worker", run)])
    started = [line.split(":")[0] for out in outs for line in out.splitlines() if line.startswith("task ")]
    assert sorted(started) == ["task 0", "task 1"]  # each task run by one worker
    record = plan.record(plan.tasks[0])
    assert record["state"] == "done" and record["pid"] != doomed.pid
    assert main(["report", str(run)]) == 0
    assert_same_results(run, serial_run)


def test_a_failed_task_leaves_its_traceback_and_report_waits_for_it(serial, tmp_path, monkeypatch, capsys):
    from tfganaug.experiment import work

    config, serial_run = serial
    run = tmp_path / "run"
    real = work.run_records

    def failing(point, folder, data, models, log, verbose, runs):
        if any(group.type == "gan" for group, _ in runs):
            raise RuntimeError("the GAN task broke")
        return real(point, folder, data, models, log, verbose, runs)

    monkeypatch.setattr(work, "run_records", failing)
    assert main(["train", str(config), "--out", str(run), "--shard", "0/1"]) == 1
    plan = Plan.load(run)
    trace = plan.traceback_file(plan.tasks[1]).read_text()
    assert "RuntimeError: the GAN task broke" in trace and "Traceback" in trace
    record = plan.record(plan.tasks[1])
    assert record["state"] == "failed" and record["error"] == "RuntimeError: the GAN task broke"
    assert record["started"] <= record["ended"] and record["pid"] == os.getpid()
    capsys.readouterr()
    assert main(["status", str(run)]) == 1
    assert "not done: tasks 1; shards of 1 to run again: --array=0" in capsys.readouterr().out
    assert main(["report", str(run)]) == 2
    assert "1 failed of 2 tasks" in capsys.readouterr().err
    assert main(["report", str(run), "--partial"]) == 0  # the baseline alone
    assert [r["group"] for r in json.loads((run / "results.json").read_text())["runs"]] == ["baseline"]
    monkeypatch.setattr(work, "run_records", real)
    assert main(["worker", str(run)]) == 0  # a failed task is left alone ...
    assert plan.state(plan.tasks[1])[0] == "failed"
    assert main(["worker", str(run), "--retry-failed"]) == 0  # ... unless asked
    assert main(["report", str(run)]) == 0
    assert_same_results(run, serial_run)


def test_the_local_executor_runs_each_task_in_its_own_process_with_its_gpu(serial, tmp_path):
    config, serial_run = serial
    run = tmp_path / "run"
    # Every float to the last bit: each worker's TensorFlow has the serial run's intra-op thread count (given:
    # a plan of its own would give each worker half the cores, and their sums would split otherwise).
    assert main(["train", str(config), "--out", str(run), "--executor", "local", "--gpus", "0,1",
                 "--threads", str(intra_op_threads())]) == 0
    assert_same_results(run, serial_run)
    plan = Plan.load(run)
    records = [plan.record(task) for task in plan.tasks]
    assert sorted(r["resources"]["CUDA_VISIBLE_DEVICES"] for r in records) == ["0", "1"]  # one GPU per worker
    assert len({r["pid"] for r in records} | {os.getpid()}) == 3  # a fresh process per task
    assert plan.threads == intra_op_threads()  # what the serial run here used
    assert all(r["intra_op_threads"] == plan.threads for r in records)
    assert all(r["resources"]["TF_NUM_INTRAOP_THREADS"] == str(plan.threads) for r in records)
    assert "training GAN acgan" in (run / "tasks" / "task-1.log").read_text()


def test_a_plan_with_another_thread_count_gives_other_numbers(serial, tmp_path):
    """Why every task process takes the plan's thread count: with another, its float sums split otherwise."""
    config, serial_run = serial
    run = tmp_path / "run"
    other = 1 if intra_op_threads() > 1 else 2  # far from the serial count: small ops use few threads anyway
    assert main(["plan", str(config), "--out", str(run), "--no-estimate", "--threads", str(other)]) == 0
    _finish([_cli("worker", run)])
    plan = Plan.load(run)
    assert plan.threads == other and all(plan.record(t)["intra_op_threads"] == other for t in plan.tasks)
    assert main(["report", str(run)]) == 0
    with pytest.raises(AssertionError):
        assert_same_results(run, serial_run)


def test_tasks_as_submitit_jobs_then_report_give_the_serial_results(serial, tmp_path):
    submitit = pytest.importorskip("submitit", reason="the slurm extra: pip install 'tfganaug[slurm]'")
    from tfganaug.sharing.executors import submit_tasks

    config, serial_run = serial
    run = tmp_path / "run"
    assert main(["plan", str(config), "--out", str(run), "--no-estimate"]) == 0
    executor = submitit.AutoExecutor(folder=tmp_path / "jobs", cluster="local")
    executor.update_parameters(timeout_min=20)
    jobs, gather = submit_tasks(run, executor)
    assert gather is None  # the local executor has no dependent jobs: the gather is ours to start
    assert sorted(job.result() for job in jobs) == [0, 1]
    assert main(["report", str(run)]) == 0
    assert_same_results(run, serial_run)  # each job's TensorFlow takes the plan's thread count


def test_a_sweep_run_as_a_shard_then_reported_gives_the_serial_sweep(tmp_path, npz_file):
    raw = tiny_config(npz_file, groups=["baseline", "duplicate"], sweep={"groups.1.copies": [2, 3]},
                      output={"gan_metrics": False})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(tmp_path / "serial")]) == 0
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--shard", "0/1"]) == 0
    folders = [t.folder for t in Plan.load(tmp_path / "run").tasks]
    assert folders == ["groups.1.copies=2"] * 2 + ["groups.1.copies=3"] * 2  # a task per point and group
    assert main(["report", str(tmp_path / "run")]) == 0
    for point in ("groups.1.copies=2", "groups.1.copies=3"):
        mine, theirs = (json.loads((tmp_path / r / point / "results.json").read_text()) for r in ("run", "serial"))
        assert without_timings(mine) == without_timings(theirs)
    assert (tmp_path / "run" / "sweep.md").read_text() == (tmp_path / "serial" / "sweep.md").read_text()


def test_tasks_as_ray_tasks_then_report_give_the_serial_results(serial, tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra: pip install 'tfganaug[ray]'")
    from tfganaug.sharing.executors import run_ray

    config, serial_run = serial
    run = tmp_path / "run"
    assert main(["plan", str(config), "--out", str(run), "--no-estimate"]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert run_ray(run) == 0
    finally:
        ray.shutdown()
    plan = Plan.load(run)
    pids = {plan.record(task)["pid"] for task in plan.tasks}
    assert len(pids) == 2 and os.getpid() not in pids  # max_calls=1: a fresh Ray worker process per task
    assert main(["report", str(run)]) == 0
    assert_same_results(run, serial_run)  # Ray's workers too take the plan's thread count


def test_a_worker_stopped_by_sigterm_exits_130_and_its_task_is_claimed_again(serial, tmp_path, capsys):
    config, _ = serial
    run = tmp_path / "run"
    assert main(["plan", str(config), "--out", str(run), "--no-estimate"]) == 0
    plan = Plan.load(run)
    worker = _cli("worker", run)
    _wait_for(lambda: plan.record(plan.tasks[0]).get("state") == "running")
    worker.send_signal(signal.SIGTERM)  # what Slurm sends at preemption and Kubernetes at eviction
    out = worker.communicate(timeout=120)[0]
    assert worker.returncode == 130, out[-2000:]  # retry: it resumes
    assert plan.record(plan.tasks[0])["state"] == "interrupted" and plan.state(plan.tasks[0])[0] == "missing"
