"""How often the 95% interval of a paired difference covers a known true difference, and how often
`significant` fires when there is none, for 1, 2, 3 and 5 seeds (`tfganaug.evaluation.statistics`).

Simulated runs of two groups (a control and a treated group) on one shared test split, with the sizes
the studies show (docs/studies: 10 classes, ~2,000 test images, accuracy ~0.78, seed-to-seed std of
accuracy 0.005-0.05, median ~0.015). Test image i of seed s of group g is classified right when

    alpha_g + u_gs + z_i + e_gsi > 0,   u_gs ~ N(0, su^2), z_i ~ N(0, sz^2), e_gsi ~ N(0, 1 - sz^2)

u: the training run's luck (seed-to-seed variation), z: how hard the image is (shared by every
classifier: the pairing), e: the rest. The true accuracy of g is Phi(alpha_g / sqrt(1 + su^2)); the
true difference is known exactly. A wrong image is put in the next class.

    nice -n 10 python bench/statistics_coverage.py --runs 400 --resamples 200 --json docs/benchmarks/statistics_coverage.json

(about 5 minutes on 2 busy cores). A rate over 400 experiments is +-2 points (95%: 2 * sqrt(.95 * .05 / 400)).
The interval only needs the variance of the resampled test images: 200 resamples are plenty.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm, ttest_1samp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tfganaug.evaluation.statistics import ALPHA, MIN_SEEDS, Bootstrap  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import write_json  # noqa: E402  (bench/timing.py)


def simulate(rng, seeds, alphas, classes, per_class, seed_sd, shared):
    """Run records of groups "control" and "treated" on one test split, as `Bootstrap` reads them."""
    labels = np.repeat(np.arange(classes), per_class)
    z = rng.normal(0, np.sqrt(shared), len(labels))
    records = []
    for group, alpha in alphas.items():
        for seed in range(seeds):
            right = alpha + rng.normal(0, seed_sd) + z + rng.normal(0, np.sqrt(1 - shared), len(labels)) > 0
            predictions = np.where(right, labels, (labels + 1) % classes)
            confusion = np.zeros((classes, classes), int)
            np.add.at(confusion, (labels, predictions), 1)
            records.append({"group": group, "seed": seed, "confusion_matrix": confusion.tolist(),
                            "test_labels": labels, "test_predictions": predictions})
    return records


def measure(seeds, difference, runs, resamples, args):
    """Coverage of the true difference and the rate of `significant` (p < ALPHA, interval clear of 0)."""
    scale = np.sqrt(1 + args.seed_sd ** 2)
    control = norm.ppf(args.accuracy) * scale
    treated = norm.ppf(args.accuracy + difference) * scale
    rng = np.random.default_rng(seeds * 1000 + int(difference * 1e4))
    covered = fired = t_fired = 0
    widths = []
    for run in range(runs):
        records = simulate(rng, seeds, {"control": control, "treated": treated}, args.classes, args.per_class,
                           args.seed_sd, args.shared)
        test = Bootstrap(records, args.classes, resamples=resamples, seed=run).difference("treated", "control")
        covered += test["low"] <= difference <= test["high"]
        fired += test["p"] < ALPHA and test["low"] * test["high"] > 0 and seeds >= MIN_SEEDS
        widths.append(test["high"] - test["low"])
        # The plain t-test over the seeds' accuracy differences on the same experiments: how far this
        # sample of experiments alone moves a rate that is 5% in the long run.
        if seeds >= MIN_SEEDS:
            accuracy = {(r["group"], r["seed"]): np.mean(r["test_predictions"] == r["test_labels"]) for r in records}
            d = [accuracy["treated", s] - accuracy["control", s] for s in range(seeds)]
            t_fired += difference == 0 and ttest_1samp(d, 0).pvalue < ALPHA
    return {"seeds": seeds, "true_difference": difference, "runs": runs, "coverage": float(covered / runs),
            "significant_rate": float(fired / runs), "mean_interval_width": float(np.mean(widths)),
            "t_test_false_positive_rate": float(t_fired / runs) if seeds >= MIN_SEEDS and difference == 0 else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="simulated experiments per row")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--accuracy", type=float, default=0.78)
    parser.add_argument("--seed-sd", type=float, default=0.05, help="su: a seed-to-seed accuracy std of ~0.015")
    parser.add_argument("--shared", type=float, default=0.7, help="sz^2: the share of image difficulty")
    parser.add_argument("--json")
    args = parser.parse_args()
    started, rows = time.time(), []
    for seeds in (1, 2, 3, 5):
        for difference in (0.0, 0.02):
            rows.append(measure(seeds, difference, args.runs, args.resamples, args))
            print(rows[-1], flush=True)
    result = {"settings": {k: v for k, v in vars(args).items() if k != "json"}, "min_seeds": MIN_SEEDS,
              "rows": rows, "seconds": round(time.time() - started)}
    write_json(args.json, result)


if __name__ == "__main__":
    main()
