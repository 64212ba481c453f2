"""Summaries of finished runs: per group, mean and std over seeds, a bootstrap interval of the headline
metric, and paired bootstrap comparisons with the baseline and with the best non-GAN control; written
as JSON, CSV and Markdown under the verdict (see `tfganaug.evaluation.statistics`)."""

import csv
import io
import json

import numpy as np

from tfganaug.evaluation.statistics import ALPHA, MIN_SEEDS, RESAMPLES, Bootstrap, holm
from tfganaug.files import write_text
from tfganaug.layout import RESULTS_FILE
from tfganaug.reporting.resolution import resolve_summary
from tfganaug.reporting.tables import pipe_table
from tfganaug.reporting.verdict import verdict

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1")
LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc.", "macro_f1": "macro-F1",
          "rare_recall": "rare-class recall"}
CONTROL_TYPES = ("baseline", "duplicate", "classical", "class_weight", "oversample")  # more_real is a ceiling
SYNTHETIC_TYPES = ("gan", "translation")
PER_IMAGE = ("test_labels", "test_predictions")  # kept in runs/*.json, left out of results.json
COMPARISON_COLUMNS = ("diff", "low", "high", "p_holm", "significant", "half", "outcome", "seeds_needed")


def _mean_std(values):
    # Sample std (ddof=1): the spread a new seed would show; 0 for a single seed.
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _baseline(records):
    """The group others are compared with: the first of type baseline trained with plain cross-entropy (a
    baseline with a re-balancing `loss` is a control, not the untouched classifier), else the first group."""
    plain = [r for r in records if r.get("type") == "baseline"
             and r.get("loss", {"type": "cross_entropy"})["type"] == "cross_entropy"]
    return (plain or [r for r in records if r.get("type") == "baseline"] or records)[0]["group"]


def _with_holm(tests):
    """Each test dict gets "p_holm" (Holm over the tests given) and "significant" (p_holm < ALPHA, the
    interval clear of 0, and at least `MIN_SEEDS` seeds: with fewer, the interval covers the test
    images only, not the variation between training runs, and a difference is not tested)."""
    for test, adjusted in zip(tests, holm([t["p"] for t in tests])):
        test["p_holm"] = adjusted
        test["significant"] = (adjusted is not None and adjusted < ALPHA and test["low"] * test["high"] > 0
                               and test["n"] >= MIN_SEEDS)
    return tests


def summarize(records, class_names, metric="accuracy", rare_classes=(), resamples=RESAMPLES, margin=1.0,
              same_as=None, no_images=()):
    """One row per group (in first-seen order) and the run's statistics.

    Each row: mean and std over seeds of every metric; `seed_values` of the compared metrics; `ci`, the
    95% interval of the mean `metric` (`statistics.paired_interval`; None with fewer than `MIN_SEEDS`
    seeds: the table shows the seeds' values instead); `vs_baseline` and, for GAN and translation
    groups, `vs_control`: paired differences (diff, low, high, p, p_holm, significant, n, levels, half,
    spread, image_half, outcome, seeds_needed) per compared metric, Holm-corrected across the groups of
    each comparison and read against the equivalence margin (`tfganaug.reporting.resolution`).

    Args:
        records: run records ("group", "type", "seed", "train_size", the HEADLINE metrics,
            "per_class_accuracy", "confusion_matrix"; "test_labels"/"test_predictions" when stored).
        class_names: the classes, in order.
        metric: the headline metric (`tfganaug.evaluation.statistics.METRICS`).
        rare_classes: class names whose mean recall is "rare_recall", compared too when given.
        resamples: bootstrap resamples.
        margin: `statistics.equivalence_margin`, in points.
        same_as: {control: the control it trains as on these data}: left out of the best-control choice.
        no_images: GAN and translation groups that added no image: compared with the baseline, not the control.

    Returns:
        (rows, statistics): statistics names the metric, compared metrics, baseline, best control and margin.
    """
    if not records:
        return [], {"metric": metric}
    rare = [class_names.index(c) for c in rare_classes]
    compared = list(dict.fromkeys([metric] + (["rare_recall"] if rare else [])))
    boot = Bootstrap(records, len(class_names), compared, rare, resamples)
    baseline = _baseline(records)
    groups = list(dict.fromkeys(r["group"] for r in records))
    kinds = {r["group"]: r.get("type") for r in records}
    means = {g: np.mean(list(boot.observed[metric][g].values())) for g in groups}
    # Without a control group there is nothing to compare a GAN group with (not itself): best_control None.
    same_as = same_as or {}
    controls = [g for g in groups if kinds[g] in CONTROL_TYPES and g not in same_as]
    best_control = max(controls, key=lambda g: (means[g], g == baseline)) if controls else None
    rows = []
    for group in groups:
        runs = [r for r in records if r["group"] == group]
        row = {"group": group, "type": kinds[group], "seeds": [r["seed"] for r in runs],
               "train_size": runs[0]["train_size"], "baseline": baseline, "seed_values": {}, "ci": {},
               "vs_baseline": {}, "vs_control": {}}
        for name in HEADLINE:
            row[name] = _mean_std([r[name] for r in runs])
        for name in compared:
            row["seed_values"][name] = [boot.observed[name][group][s] for s in boot.seeds(group, name)]
            row[name] = _mean_std(row["seed_values"][name])
            row["ci"][name] = boot.interval(group, name) if len(runs) >= MIN_SEEDS else (None, None)
            if group != baseline:
                row["vs_baseline"][name] = boot.difference(group, baseline, name)
            if kinds[group] in SYNTHETIC_TYPES and best_control is not None and group not in no_images:
                row["vs_control"][name] = boot.difference(group, best_control, name)
        row["per_class_accuracy"] = {c: _mean_std([r["per_class_accuracy"][c] for r in runs]) for c in class_names}
        rows.append(row)
    for name in compared:
        for side in ("vs_baseline", "vs_control"):
            _with_holm([row[side][name] for row in rows if name in row[side]])
    statistics = {"metric": metric, "compared": compared, "rare_classes": list(rare_classes), "baseline": baseline,
                  "best_control": best_control, "same_as": same_as, "no_images": list(no_images),
                  "resamples": resamples, "alpha": ALPHA, "min_seeds": MIN_SEEDS}
    return resolve_summary(rows, statistics, margin)


def _pct(pair):
    mean, std = pair
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def _interval(row, metric):
    low, high = row["ci"].get(metric, (None, None))
    if low is None:
        return "seeds: " + ", ".join(f"{100 * v:.2f}" for v in row["seed_values"][metric])
    return f"{100 * low:.2f} – {100 * high:.2f}"


def describe_difference(test):
    """'+1.23 (95% CI -0.40 to 2.90, p 0.041)*': points, bootstrap interval, Holm-adjusted p, * when significant."""
    if test.get("diff") is None:
        return "n/a"
    return (f"{100 * test['diff']:+.2f} (95% CI {100 * test['low']:.2f} to {100 * test['high']:.2f}, "
            f"p {test['p_holm']:.3f}){'*' if test['significant'] else ''}")


def _versus(row, side, metric, statistics):
    if side == "vs_baseline" and row["group"] == statistics["baseline"]:
        return "(baseline)"
    if side == "vs_control" and row["group"] == statistics["best_control"]:
        return "(best control)"
    test = row[side].get(metric)
    return describe_difference(test) if test else ""


def markdown_table(rows, statistics):
    """The summary as a Markdown table, in percent: the headline metric (mean ± std over seeds), its 95%
    interval (or the seeds' values), its differences from the baseline and the best control, and the
    other metrics. Per-class accuracy has its own table (`per_class_table`): one table with both does
    not fit a screen."""
    metric = statistics["metric"]
    others = [m for m in HEADLINE if m != metric]
    header = ["group", "seeds", "train images", LABELS[metric], "95% CI", "vs baseline", "vs best control"]
    lines = []
    for row in rows:
        cells = [row["group"], str(len(row["seeds"])), str(row["train_size"]), _pct(row[metric]),
                 _interval(row, metric), _versus(row, "vs_baseline", metric, statistics),
                 _versus(row, "vs_control", metric, statistics)]
        lines.append(cells + [_pct(row[m]) for m in others])
    return pipe_table(header + [LABELS[m] for m in others], lines)


def per_class_table(rows, class_names):
    """Per-class test accuracy (recall) in percent, mean ± std over seeds: one row per group."""
    return pipe_table(["group"] + list(class_names),
                      [[row["group"]] + [_pct(row["per_class_accuracy"][c]) for c in class_names] for row in rows])


def csv_text(rows, class_names, statistics):
    """The summary as CSV: one row per group, a mean and a std column per metric (fractions, not percent),
    then the headline metric's interval and its comparisons (empty where undefined): each with its
    half-width (the smallest difference it can detect), outcome and the seeds that would resolve it."""
    out = io.StringIO()
    writer = csv.writer(out)
    metric = statistics["metric"]
    metrics = list(dict.fromkeys(list(HEADLINE) + [metric])) + [f"acc_{c}" for c in class_names]
    tests = [f"{metric}_{side}_{v}" for side in ("vs_baseline", "vs_control") for v in COMPARISON_COLUMNS]
    writer.writerow(["group", "type", "seeds", "train_size"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
                    + [f"{metric}_ci_low", f"{metric}_ci_high"] + tests)
    number = lambda v: "" if v is None else f"{v:.6f}"  # noqa: E731
    for row in rows:
        pairs = [row[m] for m in metrics[:len(metrics) - len(class_names)]]
        pairs += [row["per_class_accuracy"][c] for c in class_names]
        cells = [row["group"], row["type"], len(row["seeds"]), row["train_size"]]
        cells += [f"{v:.6f}" for p in pairs for v in p] + [number(v) for v in row["ci"][metric]]
        for side in ("vs_baseline", "vs_control"):
            test = row[side].get(metric)
            cells += ([number(test[v]) for v in ("diff", "low", "high", "p_holm")] + [test["significant"]]
                      + [number(test["half"]), test["outcome"], test["seeds_needed"] or ""]
                      if test else [""] * len(COMPARISON_COLUMNS))
        writer.writerow(cells)
    return out.getvalue()


def filter_notes(records, class_names, short_only=False):
    """Sentences on filtered GAN groups: each group's acceptance rate per class (images that passed the
    filter / generated, over its seeds), and a warning for every class kept short of its count
    (`short_only`: those alone)."""
    notes, groups = [], {}
    for r in records:
        if r.get("synthesis"):
            groups.setdefault(r["group"], []).append(r)
    for group, runs in groups.items():
        generated = np.sum([r["synthesis"]["generated"] for r in runs], axis=0)
        accepted = np.sum([r["synthesis"]["accepted"] for r in runs], axis=0)
        kept = np.sum([r["synthesis"]["kept"] for r in runs], axis=0)
        asked = np.sum([r["synthesis"]["asked"] for r in runs], axis=0)
        rates = ", ".join(f"{c} {100 * n / g:.0f}%" for c, n, g in zip(class_names, accepted, generated) if g)
        if not short_only:
            notes.append(f"Filter of {group}: generated images that passed, per class: {rates}.")
        for c, k, a, n, g in zip(class_names, kept, asked, accepted, generated):
            if k < a:
                notes.append(f"Warning: the filter of {group} kept {k} of the {a} '{c}' images asked for ({n} of "
                             f"{g} generated passed): its GAN rarely makes '{c}' images the classifier recognises; "
                             f"lower filter.min_confidence, raise filter.max_rounds, or use filter.keep_fraction.")
    return notes


def explanation(statistics):
    """What the table's columns mean, for results.md and the report: the interval of docs/statistics.md
    (a test reads both for its formula)."""
    seeds = statistics.get("min_seeds", MIN_SEEDS)
    control = statistics.get("best_control", "")
    control = "none: no control group ran" if control is None else f"`{control}`, the best non-GAN group"
    return (f"Test-set {LABELS[statistics['metric']]} in %, mean ± std over seeds; 95% CI: of that mean (with fewer "
            f"than {seeds} seeds, the seeds' values instead). vs baseline (`{statistics['baseline']}`) and vs best "
            f"control ({control}): every group of a seed is tested on the same images, so the difference in "
            f"points is the mean over the seeds of each seed's difference, with its 95% CI "
            f"difference ± √( (t · S)² + (1.96 · I)² ): t · S from how much the seeds' differences vary "
            f"(Student's t), 1.96 · I from which test images were drawn (a bootstrap of the test images all seeds "
            f"share). Half the CI's width is the smallest difference the comparison can detect. p: "
            f"Holm-corrected over the groups compared; * = significant at 5% (never with fewer than {seeds} seeds: "
            f"the CI then covers the test images only).")


def write_results(run_dir, records, class_names, experiment, notes=(), metric="accuracy", rare_classes=(),
                  gan_quality=None, metric_reason="", margin=1.0, same_as=None, no_images=()):
    """Write results.json (the summary, the statistics, the verdict, every run without its per-image
    arrays), results.csv and results.md (verdict, warnings, explanation, tables); return (rows,
    statistics, verdict).

    Args:
        notes: sentences results.md shows above the table (warnings about the GANs behind it).
        metric, rare_classes: as in `summarize`.
        gan_quality: {group: {"gan_train", "recall", "collapsed"}} of GAN groups, for the verdict (kept in
            results.json, so a later reading of the statistics words it again).
        metric_reason: why `metric` ranks (`tfganaug.evaluation.headline`), said by the verdict.
        margin: `statistics.equivalence_margin`, in points.
        same_as, no_images: as in `summarize` (`tfganaug.experiment.idle`).
    """
    rows, statistics = summarize(records, class_names, metric, rare_classes, margin=margin, same_as=same_as,
                                 no_images=no_images)
    statistics["metric_reason"] = metric_reason
    line = verdict(rows, statistics, gan_quality or {})
    runs = [{k: v for k, v in r.items() if k not in PER_IMAGE} for r in records]
    payload = {"experiment": experiment, "class_names": list(class_names), "verdict": line, "notes": list(notes),
               "statistics": statistics, "gan_quality": gan_quality or {}, "summary": rows, "runs": runs}
    write_text(run_dir / RESULTS_FILE, json.dumps(payload, indent=2))
    write_text(run_dir / "results.csv", csv_text(rows, class_names, statistics))
    write_text(run_dir / "results.md", results_markdown(experiment, line, notes, rows, statistics, class_names))
    return rows, statistics, line


def results_markdown(experiment, verdict_text, notes, rows, statistics, class_names):
    """results.md: the verdict, the notes, the explanation and both tables."""
    warnings = "".join(f"{note}\n\n" for note in notes)
    return (f"# Results: {experiment}\n\n{verdict_text}\n\n{warnings}{explanation(statistics)}\n\n"
            f"{markdown_table(rows, statistics)}\n## Per-class test accuracy (%)\n\n{per_class_table(rows, class_names)}")


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
