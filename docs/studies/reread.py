"""Re-read committed studies' results under today's verdict, without training: what each comparison
resolved against `statistics.equivalence_margin` (docs/statistics.md), from the study's results.json.

    python docs/studies/reread.py docs/studies/quickstart docs/studies/gan_recipes_rare \
        docs/studies/gan_recipes_fashion/samples_per_class=50 docs/studies/gan_recipes_fashion/samples_per_class=200

Rewrites each folder's results.json (verdict, statistics, every comparison's half-width, spread, image
term, outcome and seeds needed), results.csv and results.md; the table numbers are the run's, unchanged. The runs'
per-image predictions are not committed, so the metric stays the one the study ranked by (accuracy);
when `output.metric: auto` would choose another today, the verdict's last line says so. The GAN lines
come from the folder's gan_metrics.json, read as the runner reads it. Then `python -m tests.test_docs`
rewrites the pages' quoted verdicts.
"""

import json
import sys
from pathlib import Path

from tfganaug.config import read_yaml, validate
from tfganaug.evaluation.headline import headline_metric
from tfganaug.experiment import make_splits
from tfganaug.experiment.models import RunModels
from tfganaug.experiment.runner import gan_quality_by_group
from tfganaug.files import write_text
from tfganaug.reporting.resolution import resolve_summary
from tfganaug.reporting.results import csv_text, results_markdown
from tfganaug.reporting.verdict import verdict


def _metric_reason(config, metric):
    """Why `metric` ranks, in the words of `headline_metric`, and what today's default would choose."""
    splits = make_splits(config.data)
    train = splits.train
    chosen, why = headline_metric("auto", train.counts(), splits.test.counts(), train.class_names)
    if chosen == metric:
        return why
    return (f"ranked by {metric.replace('_', ' ')}, the default when this study ran; {why.split(':')[0]}: "
            f"today's default (output.metric: auto) ranks by {chosen.replace('_', ' ')}, which weighs every class")


def reread(folder):
    """Rewrite `folder`'s results.json and results.md with today's verdict; return the verdict."""
    folder = Path(folder)
    results = json.loads((folder / "results.json").read_text())
    config = validate(read_yaml(folder / "config.resolved.yaml"))
    metrics = json.loads((folder / "gan_metrics.json").read_text())
    quality = gan_quality_by_group(config, RunModels(config, folder / "not-written"), metrics)
    rows, statistics = resolve_summary(results["summary"], results["statistics"], config.statistics.equivalence_margin)
    statistics["metric_reason"] = _metric_reason(config, statistics["metric"])
    line = verdict(rows, statistics, quality)
    results.update(verdict=line, statistics=statistics, summary=rows, gan_quality=quality)
    write_text(folder / "results.json", json.dumps(results, indent=2))
    write_text(folder / "results.csv", csv_text(rows, results["class_names"], statistics))
    write_text(folder / "results.md", results_markdown(results["experiment"], line, results["notes"], rows, statistics,
                                                       results["class_names"]))
    return line


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(f"{path}:\n{reread(path)}\n")
