"""What a comparison resolved: its outcome against the equivalence margin (`statistics.equivalence_margin`),
the smallest difference it could detect and the seeds that would narrow it to the margin
(docs/statistics.md, "What a comparison resolved")."""

import numpy as np
from scipy import stats

from tfganaug.evaluation.statistics import ALPHA, MIN_SEEDS, seeds_needed

OUTCOMES = ("not tested", "better", "worse", "tie", "inconclusive")


def outcome(test, margin):
    """One of `OUTCOMES` for a comparison of `results.summarize` (margin: a fraction, 0.01 for 1 point).

    "better"/"worse" when significant (Holm-corrected, the interval clear of 0, enough seeds); "tie" only
    when the whole interval lies within +-margin; else "inconclusive": the interval is too wide to say.
    """
    if test["n"] < MIN_SEEDS:
        return "not tested"
    if test["significant"]:
        return "better" if test["diff"] > 0 else "worse"
    return "tie" if -margin <= test["low"] and test["high"] <= margin else "inconclusive"


def resolve(test, margin):
    """`test` with "outcome" and "seeds_needed" (None with fewer than `MIN_SEEDS` seeds, whose spread
    means little, or when the test images alone are wider than the margin)."""
    test["outcome"] = outcome(test, margin)
    test["seeds_needed"] = (seeds_needed(test["spread"], test["image_half"], margin)
                            if test["n"] >= MIN_SEEDS else None)
    return test


def complete(test, metric, row, other):
    """`test` (on `metric`, of `row` against the summary row `other`) with "half", "spread" and
    "image_half" when a results.json written before they were stored lacks them: the spread from both
    rows' seed values, the half-width from the interval (its uncut side), the image part from the two in
    quadrature."""
    if "half" in test or test.get("diff") is None:
        return test
    mine = dict(zip(sorted(row["seeds"]), row["seed_values"][metric]))
    theirs = dict(zip(sorted(other["seeds"]), other["seed_values"][metric]))
    diffs = [mine[s] - theirs[s] for s in sorted(set(mine) & set(theirs))]
    n = len(diffs)
    test["half"] = max(test["high"] - test["diff"], test["diff"] - test["low"])
    test["spread"] = float(np.std(diffs, ddof=1)) if n > 1 else None
    seeds_part = stats.t.ppf(1 - ALPHA / 2, n - 1) * test["spread"] / np.sqrt(n) if n >= MIN_SEEDS else 0.0
    test["image_half"] = float(np.sqrt(max(test["half"] ** 2 - seeds_part ** 2, 0.0)))
    return test


def resolve_summary(rows, statistics, margin):
    """Every comparison of summary rows completed (`complete`) and resolved (`resolve`) against `margin`
    (points); `statistics` records the margin. Returns (rows, statistics), changed in place."""
    statistics["equivalence_margin"] = margin
    by_name = {row["group"]: row for row in rows}
    for row in rows:
        for side, against in (("vs_baseline", statistics.get("baseline")), ("vs_control", statistics.get("best_control"))):
            for metric, test in row[side].items():
                resolve(complete(test, metric, row, by_name[against]), margin / 100)
    return rows, statistics


def earlier_run_lines(results, margin):
    """What `--dry-run` says of an earlier run of the experiment (its results.json content): for the
    best GAN or translation group against the best control, the half-width it reached and the seeds
    that would narrow it to +-`margin` points; [] when it has no such comparison."""
    rows, statistics = resolve_summary(results["summary"], dict(results["statistics"]), margin)
    metric = statistics["metric"]
    tested = [r for r in rows if r["vs_control"].get(metric, {}).get("diff") is not None]
    if not tested:
        return []
    best = max(tested, key=lambda r: r[metric][0])
    test = best["vs_control"][metric]
    line = (f"earlier run: {best['group']} against {statistics['best_control']}, {test['n']} seeds: "
            f"{100 * test['diff']:+.2f} ± {100 * test['half']:.2f} points of {metric} ({test['outcome']})")
    if test["n"] < MIN_SEEDS:
        return [line, f"  {MIN_SEEDS} or more seeds measure how much the seeds vary, and so the seeds needed"]
    if test["seeds_needed"] is None:
        return [line, f"  no number of seeds narrows it to ±{margin:g}: the test images alone give "
                      f"±{100 * test['image_half']:.2f} points; use more test images or data.resplit_per_seed: true"]
    return [line, f"  seeds for ±{margin:g} (statistics.equivalence_margin): about {test['seeds_needed']}"]
