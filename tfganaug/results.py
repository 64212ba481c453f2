"""Summaries of finished runs: mean and std over seeds per group, written as JSON, CSV and Markdown."""

import csv
import io
import json

import numpy as np

from tfganaug.files import write_text

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1")


def _mean_std(values):
    # Sample std (ddof=1): the spread a new seed would show; 0 for a single seed.
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarize(records, class_names):
    """One row per group (in first-seen order): mean and std over seeds of every metric.

    Args:
        records: dicts with "group", "seed", "train_size", the HEADLINE metrics and
            "per_class_accuracy" ({class: value}).
        class_names: the classes, in order.
    """
    rows = []
    for group in dict.fromkeys(r["group"] for r in records):
        runs = [r for r in records if r["group"] == group]
        row = {"group": group, "seeds": [r["seed"] for r in runs], "train_size": runs[0]["train_size"]}
        for metric in HEADLINE:
            row[metric] = _mean_std([r[metric] for r in runs])
        row["per_class_accuracy"] = {c: _mean_std([r["per_class_accuracy"][c] for r in runs]) for c in class_names}
        rows.append(row)
    return rows


def _pct(pair):
    mean, std = pair
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def markdown_table(rows, class_names):
    """The summary as a Markdown table, accuracies in percent as mean ± std over seeds."""
    header = ["group", "seeds", "train images", "accuracy", "balanced acc.", "macro-F1"] + list(class_names)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["group"], str(len(row["seeds"])), str(row["train_size"])]
        cells += [_pct(row[m]) for m in HEADLINE] + [_pct(row["per_class_accuracy"][c]) for c in class_names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows, class_names):
    """The summary as CSV: one row per group, a mean and a std column per metric (fractions, not percent)."""
    out = io.StringIO()
    writer = csv.writer(out)
    metrics = list(HEADLINE) + [f"acc_{c}" for c in class_names]
    writer.writerow(["group", "seeds", "train_size"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")])
    for row in rows:
        pairs = [row[m] for m in HEADLINE] + [row["per_class_accuracy"][c] for c in class_names]
        writer.writerow([row["group"], len(row["seeds"]), row["train_size"]] + [f"{v:.6f}" for p in pairs for v in p])
    return out.getvalue()


def write_results(run_dir, records, class_names, experiment):
    """Write results.json (every run and the summary), results.csv and results.md; return the summary rows."""
    rows = summarize(records, class_names)
    payload = {"experiment": experiment, "class_names": list(class_names), "summary": rows, "runs": records}
    write_text(run_dir / "results.json", json.dumps(payload, indent=2))
    write_text(run_dir / "results.csv", csv_text(rows, class_names))
    title = f"# Results: {experiment}\n\nTest-set accuracy in %, mean ± std over seeds.\n\n"
    write_text(run_dir / "results.md", title + markdown_table(rows, class_names))
    return rows


def sweep_table(points, key):
    """Markdown table of accuracy (mean ± std over seeds): one row per group, one column per sweep value.

    Args:
        points: [(value, summary rows of that run)], in sweep order.
        key: the swept setting's name, for the header.
    """
    groups = list(dict.fromkeys(row["group"] for _, rows in points for row in rows))
    header = [f"group \\ {key}"] + [str(value) for value, _ in points]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        cells = [group]
        for _, rows in points:
            row = next((r for r in rows if r["group"] == group), None)
            cells.append(_pct(row["accuracy"]) if row else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
