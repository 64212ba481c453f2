"""Shared runs on a real one-node Slurm (tests/slurm.py): `deploy/slurm_array.sh` as its header says,
`--executor slurm` through submitit's sbatch, a shard killed by `scancel` and resubmitted with the
`--array=` that `status` prints, a requeued shard resuming, and `report` as a dependent job; each ends
with the serial run's results, every number. Tasks run with `--threads 1`, two at a time on 2 CPUs."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_config, write_npz
from tests.slurm import OneNodeSlurm, SlurmUnavailable
from tests.test_scale import assert_same_results
from tfganaug.cli import main
from tfganaug.sharing.tasks import Plan

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy" / "slurm_array.sh"
# Two GANs, so that three tasks can be spread over shards; epochs enough to requeue or cancel mid-GAN.
EPOCHS = 20
GAN = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": EPOCHS, "batch_size": 8}
GROUPS = ["baseline", {"type": "gan", "gan": GAN, "labeling": "pseudo_label"},
          {"type": "gan", "gan": {**GAN, "hidden_units": [6]}, "labeling": "all_in_one"}]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A one-node Slurm for the session, stopped (every job cancelled, the daemons gone) at its end."""
    cluster = OneNodeSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except SlurmUnavailable as exc:
        pytest.skip(f"no one-node Slurm here: {exc}")
    saved = os.environ.get("SLURM_CONF")
    os.environ.update(cluster.env)  # sbatch, squeue and submitit find this cluster
    yield cluster
    cluster.stop()
    if saved is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = saved


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """(config file, the run folder of a serial `train` with 1 intra-op thread, as the planned tasks get)."""
    folder = tmp_path_factory.mktemp("slurm_serial")
    # backup_seconds 0: a GAN backs up every epoch, so that a requeue or a cancel finds a backup to resume from.
    raw = tiny_config(write_npz(folder / "tiny.npz"), groups=GROUPS,
                      runtime={"mixed_precision": "off", "backup_seconds": 0})
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, "-m", "tfganaug.cli", "train", str(path), "--out", str(folder / "serial")],
                          env={**os.environ, "TF_NUM_INTRAOP_THREADS": "1"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return path, folder / "serial"


def _check(run_dir, serial_run):
    """`run_dir`'s results are the serial run's, every number (tests/test_scale.py's comparison)."""
    assert_same_results(run_dir, serial_run)  # GROUPS' labels are test_scale's


def sbatch(slurm, folder, *args):
    """Submit with the options this 1-node test cluster needs over the script's own #SBATCH lines (no GPU,
    1 CPU, little memory); the job's output goes to `folder`; its job id."""
    out = slurm.run("sbatch", "--parsable", "--gres=none", "--cpus-per-task=1", "--mem=2G", "--time=20",
                    f"--chdir={folder}", f"--output={folder}/%x-%A_%a.out", *map(str, args))
    return out.strip().split(";")[0]


def _job(slurm, job_id):
    """`scontrol show job` of one job as {key: value}."""
    return dict(re.findall(r"(\w+)=(\S*)", slurm.run("scontrol", "show", "job", job_id)))


def _wait_for(condition, timeout=300, what="a condition"):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _plan(config, run, shards):
    assert main(["plan", str(config), "--out", str(run), "--shards", str(shards), "--threads", "1",
                 "--no-estimate"]) == 0
    return Plan.load(run)


def test_slurm_array_sh_as_documented_then_the_dependent_report_give_the_serial_results(slurm, serial, tmp_path):
    config, serial_run = serial
    run = tmp_path / "run"
    _plan(config, run, shards=2)
    array = sbatch(slurm, tmp_path, "--array=0-1", DEPLOY, config, run)
    report = sbatch(slurm, tmp_path, f"--dependency=afterany:{array}", "--wrap", f"tfganaug report {run}")
    assert _job(slurm, report)["JobState"] == "PENDING"  # until every task of the array has ended
    slurm.wait_until_idle()
    assert {_job(slurm, f"{array}_{i}")["JobState"] for i in (0, 1)} == {"COMPLETED"}
    assert _job(slurm, report)["JobState"] == "COMPLETED"
    outs = {i: (tmp_path / f"tfganaug-{array}_{i}.out").read_text() for i in (0, 1)}
    assert "shard 0/2: 2 of 3 tasks" in outs[0] and "shard 1/2: 1 of 3 tasks" in outs[1]
    plan = Plan.load(run)
    assert {plan.record(t)["scheduler"]["SLURM_ARRAY_JOB_ID"] for t in plan.tasks} == {array}
    _check(run, serial_run)


def _mid_gan(run, hidden_units):
    """Whether `run`'s GAN of `hidden_units` is training and has backed up an epoch (every epoch here)."""
    for spec in run.glob("gans/*/gan.json"):  # written as its training starts
        if json.loads(spec.read_text())["gan"]["hidden_units"] == hidden_units:
            return (spec.parent / "backup" / "training_metadata.json").exists()
    return False


def test_a_cancelled_shard_resubmitted_as_status_prints_and_a_requeued_one_complete_the_run(slurm, serial, tmp_path,
                                                                                          capsys):
    config, serial_run = serial
    run = tmp_path / "run"
    plan = _plan(config, run, shards=2)
    assert [[t.index for t in plan.shard(i)] for i in (0, 1)] == [[0, 2], [1]]  # by count: no estimate
    array = sbatch(slurm, tmp_path, "--array=0-1", DEPLOY, config, run)
    # Shard 1 cancelled in the middle of its GAN (task 1's) ...
    _wait_for(lambda: _mid_gan(run, GROUPS[1]["gan"]["hidden_units"]), what="task 1's GAN to back up an epoch")
    slurm.run("scancel", f"{array}_1")
    # ... shard 0 requeued in the middle of its second task's GAN, its first task done.
    _wait_for(lambda: _mid_gan(run, GROUPS[2]["gan"]["hidden_units"]), what="task 2's GAN to back up an epoch")
    slurm.run("scontrol", "requeue", f"{array}_0")
    slurm.run("scontrol", "update", f"jobid={array}_0", "StartTime=now")  # a requeued job waits 2 minutes else
    slurm.wait_until_idle()
    assert _job(slurm, f"{array}_1")["JobState"] == "CANCELLED"
    requeued = _job(slurm, f"{array}_0")
    assert (requeued["JobState"], requeued["Restarts"]) == ("COMPLETED", "1")
    out = (tmp_path / f"tfganaug-{array}_0.out").read_text()
    first, _, second = out.partition("DUE TO JOB REQUEUE")
    assert "task 0:" in first and "task 0:" not in second  # its finished task is kept
    assert f"Epoch 1/{EPOCHS}" in first and "task 2:" in second and f"Epoch 1/{EPOCHS}" not in second
    assert re.search(rf"Epoch ([2-9]|\d\d)/{EPOCHS}", second)  # the GAN resumed from its backup
    capsys.readouterr()
    assert main(["status", str(run)]) == 1
    printed = capsys.readouterr().out
    assert "not done: tasks 1; shards of 2 to run again: --array=1 " in printed
    again = sbatch(slurm, tmp_path, re.search(r"--array=\S+", printed).group(0), DEPLOY, config, run)
    report = sbatch(slurm, tmp_path, f"--dependency=afterany:{again}", "--wrap", f"tfganaug report {run}")
    slurm.wait_until_idle()
    assert (_job(slurm, f"{again}_1")["JobState"], _job(slurm, report)["JobState"]) == ("COMPLETED", "COMPLETED")
    out = (tmp_path / f"tfganaug-{again}_1.out").read_text()
    assert "shard 1/2: 1 of 3 tasks" in out and f"Epoch 1/{EPOCHS}" not in out  # that shard, its GAN resumed
    _check(run, serial_run)


def test_the_slurm_executor_submits_with_sbatch_and_its_dependent_report_gives_the_serial_results(slurm, serial,
                                                                                                  tmp_path):
    pytest.importorskip("submitit", reason="the slurm extra: pip install 'tfganaug[slurm]'")
    config, serial_run = serial
    run = tmp_path / "run"
    # In a process of its own, as a user runs it (submitit's log handlers would hold pytest's captured streams).
    done = subprocess.run([sys.executable, "-m", "tfganaug.cli", "train", str(config), "--out", str(run), "--executor",
                           "slurm", "--threads", "1", "--slurm", "mem_gb=2"], capture_output=True, text=True)
    out = done.stdout
    assert done.returncode == 0, out[-2000:] + done.stderr[-2000:]  # returned at once, the jobs submitted
    minutes = int(re.search(r"Slurm time limit of every task: (\d+) min", out).group(1))
    plan = Plan.load(run)
    longest = max(t.seconds for t in plan.tasks)  # planned with an estimate
    assert minutes == -(-3 * longest // 60) + 10
    tasks = re.search(r"submitted 3 tasks: jobs (\d+)_0 \.\.\. \1_2", out).group(1)
    gather = re.search(r"the gather .* is job (\d+), after them", out).group(1)
    slurm.wait_until_idle()
    for job_id in [f"{tasks}_{i}" for i in range(3)] + [gather]:
        job = _job(slurm, job_id)
        assert (job["JobState"], job["NumCPUs"]) == ("COMPLETED", "1"), job_id  # cpus: the plan's threads
        assert job["TimeLimit"] == f"00:{minutes:02d}:00" and "gpu" not in job["TRES"]
    _check(run, serial_run)
