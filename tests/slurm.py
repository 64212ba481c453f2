"""A one-node Slurm on this machine for the tests: munged, slurmctld and slurmd on localhost, every file
of theirs (key, sockets, state, spool, logs) in one folder, on free ports, so that nothing of the
machine's own Slurm or munge is touched.

`OneNodeSlurm(folder).start()` installs Debian's `slurm-wlm` and `munge` when they are missing (as root,
with apt-get), writes a minimal `slurm.conf`, starts the three daemons in the foreground as this process's
children and waits until `sinfo` shows the node idle; `stop()` cancels every job, stops the daemons and
waits for them. Clients find this cluster through `SLURM_CONF` (`env`).
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged", "mungekey", "sinfo", "sbatch")
ACTIVE = {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "SUSPENDED", "REQUEUE_HOLD"}


class SlurmUnavailable(Exception):
    """Why no Slurm can be started here (the tests that need one skip with it)."""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the forked child only calls it


def _die_with_parent():
    """In a daemon before it starts: SIGTERM when the test process ends, even killed (no daemon outlives it)."""
    _PRCTL(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def install():
    """Debian's slurm-wlm and munge, installed with apt-get when a daemon is missing."""
    if all(shutil.which(name) or Path("/usr/sbin", name).exists() for name in DAEMONS):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("slurm-wlm and munge are not installed, and installing them needs root")
    if not shutil.which("apt-get"):
        raise SlurmUnavailable("slurm-wlm and munge are not installed, and there is no apt-get to install them")
    done = subprocess.run(["apt-get", "install", "-y", "slurm-wlm", "munge"], capture_output=True, text=True,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if done.returncode != 0:
        raise SlurmUnavailable(f"apt-get install -y slurm-wlm munge failed: {done.stderr.strip()[-500:]}")


def slurm_conf(folder, ctld_port, slurmd_port, cpus, memory_mb):
    """A minimal slurm.conf: localhost is the controller and the one node; no accounting, no cgroups
    (linuxproc tracking, no task plugin); CR_CPU lets 1-CPU jobs share the node's CPUs."""
    return f"""ClusterName=tfganaug-test
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=1
KillWait=5
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class OneNodeSlurm:
    """A one-node Slurm whose files live in `folder`; `env` points clients (sbatch, submitit) at it."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.conf = self.folder / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        self.daemons = []

    def run(self, *args, check=True):
        """A Slurm client command against this cluster; its stdout."""
        done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **self.env})
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def _start(self, *args):
        log = open(self.folder / f"{Path(args[0]).name}.out", "w")
        self.daemons.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                             env={**os.environ, **self.env}, preexec_fn=_die_with_parent))

    def start(self, timeout=60):
        install()
        if os.geteuid() != 0:
            raise SlurmUnavailable("slurmd must run as root to start jobs")
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        # RealMemory below what slurmd finds (else it drains the node); CPUs as many as the machine has.
        self.conf.write_text(slurm_conf(self.folder, _free_port(), _free_port(), os.cpu_count(), memory * 9 // 10))
        key = self.folder / "munge.key"
        subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True)
        try:
            self._start("munged", "--foreground", "--force", f"--key-file={key}",
                        f"--socket={self.folder}/munge.socket", f"--pid-file={self.folder}/munged.pid",
                        f"--log-file={self.folder}/munged.log", f"--seed-file={self.folder}/munged.seed")
            self._wait(lambda: (self.folder / "munge.socket").exists(), timeout, "munged")
            self._start("slurmctld", "-D", "-f", str(self.conf))
            self._start("slurmd", "-D", "-f", str(self.conf), "-N", "localhost")
            self._wait(lambda: "idle" in self.run("sinfo", "-h", "-o", "%t", check=False), timeout, "the node idle")
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, condition, timeout, what):
        deadline = time.time() + timeout
        while not condition():
            dead = [p.args[0] for p in self.daemons if p.poll() is not None]
            if dead or time.time() > deadline:
                logs = {p.name: p.read_text()[-1500:] for p in self.folder.glob("*.log")}
                raise RuntimeError(f"waited for {what}; exited: {dead}; logs: {logs}")
            time.sleep(0.2)

    def jobs(self):
        """{job id (as squeue shows it, e.g. 12_0): state} of the jobs Slurm still knows."""
        out = self.run("squeue", "-h", "-t", "all", "-o", "%i %T", check=False)
        return dict(line.split() for line in out.splitlines() if line.strip())

    def wait_until_idle(self, timeout=600):
        """Wait until no job is pending, running or completing."""
        self._wait(lambda: not ACTIVE & set(self.jobs().values()), timeout, "every job to end")

    def stop(self):
        """Cancel every job, stop the daemons (slurmctld and slurmd by `scontrol shutdown`) and wait for them."""
        if any(p.poll() is None for p in self.daemons[1:]):
            self.run("scancel", "--user", str(os.getuid()), check=False)
            deadline = time.time() + 30
            while ACTIVE & set(self.jobs().values()) and time.time() < deadline:
                time.sleep(0.5)
            self.run("scontrol", "shutdown", check=False)
        for proc in reversed(self.daemons):
            if proc.args[0] == "munged":
                proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.daemons = []
