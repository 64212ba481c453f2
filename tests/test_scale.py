"""One experiment run by several processes into one folder (shards, workers, a killed worker), then
gathered by `tfganaug report`: the results a serial `tfganaug train` gives, every metric."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_config, write_npz
from tfganaug.cli import main
from tfganaug.tasks import Plan

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parent.parent
GAN = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 8}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """(config file, the run folder of a serial `train`): three groups, two sharing a GAN: two tasks."""
    folder = tmp_path_factory.mktemp("scale")
    raw = tiny_config(write_npz(folder / "tiny.npz"), groups=[
        "baseline", {"type": "gan", "gan": GAN, "labeling": "pseudo_label"},
        {"type": "gan", "gan": GAN, "labeling": "all_in_one"}])
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(folder / "serial")]) == 0
    return path, folder / "serial"


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def assert_same_results(run, serial_run):
    """results.json and gan_metrics.json of `run` are those of the serial run (timings aside)."""
    mine, theirs = (json.loads((r / "results.json").read_text()) for r in (run, serial_run))
    assert [r["group"] for r in mine["runs"]] == ["baseline", "acgan-pseudo_label", "acgan-all_in_one"]
    assert _without_timings(mine) == _without_timings(theirs)
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


def test_two_shards_at_once_then_report_give_the_serial_results(serial, tmp_path, capsys):
    config, serial_run = serial
    run = tmp_path / "run"
    # Neither planned: the first plans (under the folder lock), the other reads its plan.
    outs = _finish([_cli("train", config, "--out", run, "--shard", f"{i}/2") for i in range(2)])
    assert "".join(outs).count("training GAN acgan") == 1  # the groups sharing the GAN share a task
    assert not (run / "results.json").exists()  # shards write no summary
    assert main(["status", str(run)]) == 0
    assert "2 tasks: 2 done, 0 running, 0 failed, 0 missing" in capsys.readouterr().out
    assert main(["report", str(run)]) == 0
    assert_same_results(run, serial_run)


def test_two_workers_and_a_duplicated_shard_run_each_task_once(serial, tmp_path):
    config, serial_run = serial
    run = tmp_path / "run"
    assert main(["plan", str(config), "--out", str(run), "--shards", "2", "--no-estimate"]) == 0
    outs = _finish([_cli("worker", run), _cli("worker", run), _cli("train", config, "--out", run, "--shard", "0/2"),
                    _cli("train", config, "--out", run, "--shard", "0/2")])
    started = [line for out in outs for line in out.splitlines() if line.startswith("task ")]
    assert sorted(line.split(":")[0] for line in started) == ["task 0", "task 1"]  # each run by one process
    assert main(["report", str(run)]) == 0
    assert_same_results(run, serial_run)


def _wait_for(condition, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_a_task_of_a_killed_worker_is_finished_by_another(serial, tmp_path, capsys):
    config, serial_run = serial
    run = tmp_path / "run"
    assert main(["plan", str(config), "--out", str(run), "--no-estimate"]) == 0
    plan = Plan.load(run)
    doomed = _cli("worker", run)
    _wait_for(lambda: plan.record(plan.tasks[0]).get("state") == "running")
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate()
    assert plan.state(plan.tasks[0])[0] == "missing"  # its lock died with it
    assert main(["report", str(run)]) == 2  # refused: tasks are missing
    assert "2 missing of 2 tasks" in capsys.readouterr().err or plan.is_done(plan.tasks[1]) is False
    (out,) = _finish([_cli("worker", run)])
    record = plan.record(plan.tasks[0])
    assert record["state"] == "done" and record["pid"] != doomed.pid and "task 0:" in out
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
