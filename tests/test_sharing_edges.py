"""The edges a cluster user meets first (issue 43): leases on shaky shared file systems, retried tasks,
thread counts per worker and per pod, one precision per plan, held locks and file systems without flock,
the Kubernetes manifest."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


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
