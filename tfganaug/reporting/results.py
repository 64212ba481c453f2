"""Summaries of finished runs: mean and std over seeds per group, written as JSON, CSV and Markdown."""

import csv
import io
import json
import math

from tfganaug.evaluation.statistics import mean_ci, paired_test
from tfganaug.files import write_text
from tfganaug.layout import RESULTS_FILE
from tfganaug.reporting.tables import pipe_table

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1")


def _mean_std(values):
    # Sample std (ddof=1): the spread a new seed would show; 0 for a single seed.
    mean, std, _, _ = mean_ci(values)
    return mean, std


def _finite_or_none(x):
    return None if x is None or math.isnan(x) else x


def _baseline(records):
    """The group others are compared with: the first of type baseline, else the first group."""
    return next((r["group"] for r in records if r.get("type") == "baseline"), records[0]["group"])


def summarize(records, class_names):
    """One row per group (in first-seen order): mean and std over seeds of every metric.

    Each row also has, for the HEADLINE metrics, the 95% t interval of the mean
    (`ci`) and a paired t-test over the seeds both share against the baseline
    group (`vs_baseline`: diff, p, significant; None for the baseline itself).

    Args:
        records: dicts with "group", "type", "seed", "train_size", the HEADLINE metrics and
            "per_class_accuracy" ({class: value}).
        class_names: the classes, in order.
    """
    baseline = _baseline(records) if records else None
    base_runs = {r["seed"]: r for r in records if r["group"] == baseline}
    rows = []
    for group in dict.fromkeys(r["group"] for r in records):
        runs = [r for r in records if r["group"] == group]
        row = {"group": group, "seeds": [r["seed"] for r in runs], "train_size": runs[0]["train_size"],
               "ci": {}, "vs_baseline": {}, "baseline": baseline}
        paired = [r for r in runs if r["seed"] in base_runs]
        for metric in HEADLINE:
            mean, std, low, high = mean_ci([r[metric] for r in runs])
            row[metric] = (mean, std)
            row["ci"][metric] = (_finite_or_none(low), _finite_or_none(high))
            if group != baseline:
                test = paired_test([r[metric] for r in paired], [base_runs[r["seed"]][metric] for r in paired])
                row["vs_baseline"][metric] = {**test, "p": _finite_or_none(test["p"])}
        row["per_class_accuracy"] = {c: _mean_std([r["per_class_accuracy"][c] for r in runs]) for c in class_names}
        rows.append(row)
    return rows


def _pct(pair):
    mean, std = pair
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def _ci(pair):
    low, high = pair
    return "n/a" if low is None else f"{100 * low:.2f} – {100 * high:.2f}"


def _versus(test):
    """'+1.23 (p 0.041)*': difference in points, p-value, * when significant."""
    if test is None:
        return "(baseline)"
    p = "n/a" if test["p"] is None else f"{test['p']:.3f}"
    return f"{100 * test['diff']:+.2f} (p {p}){'*' if test['significant'] else ''}"


def markdown_table(rows, class_names):
    """The summary as a Markdown table, accuracies in percent as mean ± std over seeds.

    Columns: the accuracy's 95% interval and its paired comparison with the
    baseline (difference in points, p-value, * = significant at 5%).
    """
    header = (["group", "seeds", "train images", "accuracy", "95% CI", "vs baseline", "balanced acc.", "macro-F1"]
              + list(class_names))
    lines = []
    for row in rows:
        cells = [row["group"], str(len(row["seeds"])), str(row["train_size"]), _pct(row["accuracy"]),
                 _ci(row["ci"]["accuracy"]), _versus(row["vs_baseline"].get("accuracy"))]
        cells += [_pct(row[m]) for m in HEADLINE[1:]] + [_pct(row["per_class_accuracy"][c]) for c in class_names]
        lines.append(cells)
    return pipe_table(header, lines)


def csv_text(rows, class_names):
    """The summary as CSV: one row per group, a mean and a std column per metric (fractions, not percent),
    then the accuracy's 95% interval and its paired comparison with the baseline (empty where undefined)."""
    out = io.StringIO()
    writer = csv.writer(out)
    metrics = list(HEADLINE) + [f"acc_{c}" for c in class_names]
    writer.writerow(["group", "seeds", "train_size"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
                    + ["accuracy_ci_low", "accuracy_ci_high", "accuracy_vs_baseline_diff", "accuracy_vs_baseline_p",
                       "accuracy_vs_baseline_significant"])
    number = lambda v: "" if v is None else f"{v:.6f}"  # noqa: E731
    for row in rows:
        pairs = [row[m] for m in HEADLINE] + [row["per_class_accuracy"][c] for c in class_names]
        test = row["vs_baseline"].get("accuracy") or {"diff": None, "p": None, "significant": ""}
        writer.writerow([row["group"], len(row["seeds"]), row["train_size"]] + [f"{v:.6f}" for p in pairs for v in p]
                        + [number(v) for v in row["ci"]["accuracy"]]
                        + [number(test["diff"]), number(test["p"]), test["significant"]])
    return out.getvalue()


def write_results(run_dir, records, class_names, experiment, notes=()):
    """Write results.json (every run and the summary), results.csv and results.md; return the summary rows.

    `notes`: sentences results.md shows above the table (warnings about the GANs behind it).
    """
    rows = summarize(records, class_names)
    payload = {"experiment": experiment, "class_names": list(class_names), "summary": rows, "runs": records}
    write_text(run_dir / RESULTS_FILE, json.dumps(payload, indent=2))
    write_text(run_dir / "results.csv", csv_text(rows, class_names))
    title = (f"# Results: {experiment}\n\nTest-set accuracy in %, mean ± std over seeds; 95% CI: Student's t "
             f"interval of the mean; vs baseline: mean paired difference in points over the shared seeds, "
             f"p-value of the paired t-test, * = significant at 5%.\n\n")
    warnings = "".join(f"{note}\n\n" for note in notes)
    write_text(run_dir / "results.md", title + warnings + markdown_table(rows, class_names))
    return rows


def sweep_table(points, key):
    """Markdown table of accuracy (mean ± std over seeds): one row per group, one column per sweep value.

    Args:
        points: [(value, summary rows of that run)], in sweep order.
        key: the swept setting's name, for the header.
    """
    groups = list(dict.fromkeys(row["group"] for _, rows in points for row in rows))
    header = [f"group \\ {key}"] + [str(value) for value, _ in points]
    lines = []
    for group in groups:
        cells = [group]
        for _, rows in points:
            row = next((r for r in rows if r["group"] == group), None)
            cells.append(_pct(row["accuracy"]) if row else "")
        lines.append(cells)
    return pipe_table(header, lines)
