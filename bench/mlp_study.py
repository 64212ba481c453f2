"""The Fashion-MNIST labeling study's steps (experiments/acgan_fashion_mnist.yaml) before and after a change, in
the same sitting: `bench/gan_step.py` on the study's MLP pairs and `tfganaug train ... --dry-run`, each in fresh
processes alternating between the code at `--before` (a `git worktree` of the commit before the change, put
first on PYTHONPATH) and this checkout, and `bench/classifier_step.py` on the study's MLP in float32 and
mixed_bfloat16 (fit_classifier against the plain loop and the bare matmul chain) on both sides too. Medians
over the processes; every process's own figures are kept in the JSON.

    git worktree add --detach /tmp/before <commit before the change>
    python bench/mlp_study.py --before /tmp/before --processes 3 --json docs/benchmarks/mlp_study_steps.json
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import machine, write_json  # (bench/timing.py)

HERE = Path(__file__).resolve().parent
STUDY = HERE.parent / "experiments" / "acgan_fashion_mnist.yaml"
GAN_ARGS = ["--pairs", "mlp-cgan", "mlp-acgan", "--batch", "128", "--steps", "8", "--repeats", "3"]
CLASSIFIER_ARGS = ["--models", "mlp", "--epochs", "6", "--variants", "plain loop", "bare matmul/conv chain"]
# The dry run's model lines: "<model>  <runs> runs x (<s> s set-up + <steps> steps x <ms> ms) = <time>".
MODEL_LINE = re.compile(r"^\s+(.+?)\s{2,}(\d+) runs x \(([\d.]+) s set-up \+ (\d+) steps x (\d+) ms\)")


def run(args, pythonpath=None):
    """Run `args` in a fresh process (with `pythonpath` first on PYTHONPATH); its stdout."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(args, env=env, check=True, capture_output=True, text=True, cwd=HERE.parent).stdout


def gan_steps(pythonpath):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        run([sys.executable, str(HERE / "gan_step.py"), *GAN_ARGS, "--json", out.name], pythonpath)
        return json.load(open(out.name))


# The dry run with Keras's global policy set as the run sets it first: before c469acf the dry run timed its
# models in float32 whatever the run trained in; both sides then time the precision the study trains in.
DRY_RUN = ("import sys, keras; from tfganaug.distribute import precision_policy; "
           "keras.mixed_precision.set_global_policy(precision_policy('auto')); "
           "from tfganaug.cli import main; sys.exit(main(sys.argv[1:]))")


def dry_run(pythonpath):
    text = run([sys.executable, "-c", DRY_RUN, "train", str(STUDY), "--dry-run"], pythonpath)
    lines = [m for m in map(MODEL_LINE.match, text.splitlines()) if m]
    hours = re.search(r"total about ([\d.]+) h", text)
    return {"ms_per_step": {m.group(1): int(m.group(5)) for m in lines},
            "runs_setup_seconds_steps": {m.group(1): [int(m.group(2)), float(m.group(3)), int(m.group(4))] for m in lines},
            "total_hours": float(hours.group(1)) if hours else None}


def classifier(policy, pythonpath):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        run([sys.executable, str(HERE / "classifier_step.py"), *CLASSIFIER_ARGS, "--policy", policy, "--json",
             out.name], pythonpath)
        return json.load(open(out.name))["mlp"]


def commits(before):
    """The commits measured: the one checked out at `before`, and this checkout's HEAD (its changes not
    yet committed, if any, are measured too)."""
    def head(folder):
        return subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    return {"before": head(before), "after": head(HERE.parent)}


def median_of(processes, get):
    return round(statistics.median(get(p) for p in processes), 2)


def summarize(result):
    """Medians over the processes of `result["processes"]`, and the speed-ups."""
    sides = ("before", "after")
    medians = {}
    for side in sides:
        gan, dry = result["processes"][side]["gan"], result["processes"][side]["dry_run"]
        ratio = "{}: full step's speed / its bare work's (target >= 0.7)"
        medians[side] = {
            "gan_ms_per_step": {v: median_of(gan, lambda p, v=v: p["ms_per_step"][v]) for v in gan[0]["ms_per_step"]},
            "gan_full_over_bare_speed": {
                f"{pair} {policy}": median_of(gan, lambda p, k=(pair, ratio.format(policy)): p["pairs"][k[0]][k[1]])
                for pair in gan[0]["pairs"] for policy in ("float32", "mixed_bfloat16")},
            "dry_run_ms_per_step": {m: median_of(dry, lambda p, m=m: p["ms_per_step"][m])
                                    for m in dry[0]["ms_per_step"]},
            "dry_run_total_hours": median_of(dry, lambda p: p["total_hours"]),
        }
    medians["gan_speed_up_after_over_before"] = {
        v: round(medians["before"]["gan_ms_per_step"][v] / medians["after"]["gan_ms_per_step"][v], 3)
        for v in medians["after"]["gan_ms_per_step"] if v.endswith("full")}
    if "classifier" in result["processes"]:  # a file from before both sides ran it: its classifier medians stand
        return medians
    for side in sides:
        for figure in ("images_per_second", "speed_vs_fit_classifier"):
            medians[side][f"classifier_{figure}"] = {
                policy: {v: median_of(runs, lambda p, v=v: p[figure][v]) for v in runs[0][figure]}
                for policy, runs in result["processes"][side]["classifier"].items()}
        medians[side]["classifier_ms_per_step"] = {
            policy: {v: round(1000 * 128 / ips, 2) for v, ips in figures.items()}
            for policy, figures in medians[side]["classifier_images_per_second"].items()}
    counts = result["processes"]["after"]["dry_run"][0].get("runs_setup_seconds_steps")
    if counts:  # the dry run's steps at the benches' bfloat16 step times: the study's hours as measured here
        for side in sides:
            ms = {"classifier mlp": medians[side]["classifier_ms_per_step"]["mixed_bfloat16"]["fit_classifier"],
                  "GAN cgan (mlp)": medians[side]["gan_ms_per_step"]["mlp-cgan mixed_bfloat16 full"],
                  "GAN acgan (mlp)": medians[side]["gan_ms_per_step"]["mlp-acgan mixed_bfloat16 full"]}
            medians[side]["study_hours_at_bench_step_times"] = round(sum(
                runs * (setup + steps * ms[model] / 1000) for model, (runs, setup, steps) in counts.items()) / 3600, 2)
    medians["classifier_speed_up_after_over_before"] = {
        policy: round(medians["before"]["classifier_ms_per_step"][policy]["fit_classifier"]
                      / ms["fit_classifier"], 3) for policy, ms in medians["after"]["classifier_ms_per_step"].items()}
    return medians


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="a checkout of the code before the change")
    parser.add_argument("--from", dest="source", help="only recompute the medians of this file's processes")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per side and measure")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    if args.source:
        result = json.load(open(args.source))
        if "commits" not in result:  # (the checkout at `before` may be gone)
            result["commits"] = commits(result["before"])
        result["medians"] = {**result.get("medians", {}), **summarize(result)}
        write_json(args.json or args.source, result)
        return
    if not args.before:
        parser.error("--before: a checkout of the code before the change (git worktree add --detach DIR COMMIT)")
    result = {"machine": machine(), "commits": commits(args.before), "commands": {
        "gan": "python bench/gan_step.py " + " ".join(GAN_ARGS),
        "dry_run": f"tfganaug train {STUDY.relative_to(HERE.parent)} --dry-run (Keras's policy: precision_policy('auto'))",
        "classifier": "python bench/classifier_step.py " + " ".join(f'"{a}"' if " " in a else a
                                                                   for a in CLASSIFIER_ARGS) + " --policy <policy>"},
        "before": str(Path(args.before).resolve()), "processes": {side: {"gan": [], "dry_run": [], "classifier": {}}
                                                                   for side in ("before", "after")}}
    sides = {"before": str(Path(args.before).resolve()), "after": None}
    for _ in range(args.processes):
        for what, measure in (("gan", gan_steps), ("dry_run", dry_run)):
            for side, pythonpath in sides.items():
                result["processes"][side][what].append(measure(pythonpath))
        for policy in ("float32", "mixed_bfloat16"):
            for side, pythonpath in sides.items():
                result["processes"][side]["classifier"].setdefault(policy, []).append(classifier(policy, pythonpath))
    result["medians"] = medians = summarize(result)
    print(json.dumps(medians, indent=1))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
