"""The CPU cores this process may use: its CPU affinity, capped by its cgroup's CPU limit.

In a container (a Kubernetes pod with `resources.limits.cpu`, a Slurm job with a cgroup), the
affinity still lists every core of the node while the kernel lets the process use only the
limit's worth of CPU time: a thread pool sized by the affinity is throttled. Nothing here imports
TensorFlow.
"""

import os
from pathlib import Path


def _quota(cgroup_root, line):
    """(quota, period) in microseconds of one /proc/self/cgroup line, or None: cgroup v2's `cpu.max`
    ("0::/path"), or v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us` (a "cpu" controller line)."""
    number, controllers, path = line.split(":", 2)
    folder = path.strip("/")
    if number == "0" and not controllers:
        quota, period = (Path(cgroup_root) / folder / "cpu.max").read_text().split()
        return None if quota == "max" else (int(quota), int(period))
    if "cpu" in controllers.split(","):
        base = Path(cgroup_root) / controllers / folder
        quota = int((base / "cpu.cfs_quota_us").read_text())
        return None if quota < 0 else (quota, int((base / "cpu.cfs_period_us").read_text()))
    return None


def cgroup_cpu_limit(cgroup_root="/sys/fs/cgroup", self_cgroup="/proc/self/cgroup"):
    """Whole CPUs of this process's cgroup CPU limit (a Kubernetes limit of "8" is a quota of 800000 per
    100000 microseconds), rounded down and at least 1; None without a limit or a readable cgroup file."""
    try:
        lines = Path(self_cgroup).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            found = _quota(cgroup_root, line)
        except (OSError, ValueError):
            continue  # a controller without the files (v1's cpuset line, a v2 mount on a v1 host)
        if found and found[1] > 0:
            return max(1, found[0] // found[1])
    return None


def available_cores():
    """The cores this process may run on (`os.sched_getaffinity`), no more than its cgroup's CPU limit."""
    cores = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit()
    return min(cores, limit) if limit else cores
