"""The Python API: `tfganaug train` for scripts and notebooks, with the same config, checks and results.

    import tfganaug

    experiment = tfganaug.Experiment.from_yaml("experiments/quickstart.yaml",
                                               overrides={"classifier.epochs": 2, "seeds": [0]})
    experiment.dry_run()                      # the plan and the time it will take, as `--dry-run` prints
    results = experiment.run(out="runs/quick")
    results.records                           # one dict per group: the columns of results.csv
    results.verdict                           # the sentence that answers "did the GAN help?"
    generator = tfganaug.load_generator("runs/quick")
    images = generator(labels=["cat", "cat", "dog"])   # uint8 [3, 28, 28, 1]

The `tfganaug train` command calls `Experiment.run` and `Experiment.dry_run`: one implementation.
Importing this module does not import TensorFlow; running does, without its start-up lines.
"""

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from tfganaug.config import load_config
from tfganaug.console import import_tensorflow_quietly
from tfganaug.errors import ConfigError, UserError
from tfganaug.files import path_component
from tfganaug.generator import Generator, load_generator  # noqa: F401 (the API's)
from tfganaug.layout import CONFIG_FILE, RESULTS_FILE
from tfganaug.reporting.results import COMPARISON_COLUMNS

SWEEP_TABLE = "sweep.md"


class Experiment:
    """One validated experiment config, ready to check (`dry_run`) and to run (`run`).

    Args:
        config: a validated `tfganaug.config.ExperimentConfig`.
        source: where it came from (its YAML file), named in errors found once the data is read.

    Example:
        >>> experiment = Experiment.from_yaml("experiments/quickstart.yaml", overrides={"seeds": [0]})
        >>> experiment.config.classifier.epochs
        12
    """

    def __init__(self, config, source="<config>"):
        self.config, self.source = config, str(source)

    @classmethod
    def from_yaml(cls, path, overrides=None):
        """Read and validate an experiment YAML, with overrides applied first.

        Args:
            path: the experiment YAML file.
            overrides: {"key.path": value} with the dotted keys of the CLI's `--set` (list items by
                index: {"groups.2.gan.epochs": 5}); or the `--set` strings themselves
                (["classifier.epochs=2"], values parsed as YAML).

        Raises:
            ConfigError: a bad key or value, naming the file, the key and what is allowed (the same
                error `tfganaug train --set` gives).
        """
        return cls(load_config(path, overrides or ()), source=path)

    def __repr__(self):
        return f"Experiment({self.config.name!r} from {self.source})"

    @contextlib.contextmanager
    def naming_errors(self):
        """Errors found once the data is known (e.g. too few images) name the config file too."""
        try:
            yield
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {exc}") from None

    def dry_run(self, estimate=True, log=print, verbose=False, out=None):
        """Validate, check the data, print the plan, the headline metric and why, and (with `estimate`) the
        time the run will take on this machine; train nothing and write nothing. What `tfganaug train
        --dry-run` prints. When an earlier run of the experiment left results.json in its run folder, the
        seeds that would narrow its headline comparison to `statistics.equivalence_margin` too.

        The plan of every sweep point comes first (seconds); the estimate follows: a few timed training
        steps of each distinct model, multiplied out over epochs, groups and seeds.

        With `data.download: true` the data is fetched as `run` would fetch it, after a line saying
        what and how much: the plan and the estimate need the real images (classes, counts, shape),
        and a dry run that stopped where the run goes on would check nothing. It lands in the data
        set's own cache (e.g. ~/tensorflow_datasets), where the run finds it: nothing is fetched twice.

        Args:
            estimate: time the models (else they are only built, to check they fit the images).
            log: where each printed block goes (`print`; a no-op function to stay silent).
            verbose: let TensorFlow print its start-up lines (`tfganaug train --dry-run -v`).
            out: the run folder (default: `<output.root>/<name>`), where an earlier run is looked for.

        Returns:
            `DryRun`: the printed text and the estimated seconds (None without `estimate`).
        """
        if not verbose:
            import_tensorflow_quietly()
        from tfganaug.experiment import check_metric, check_models, describe_plan, make_splits, sweep_points
        from tfganaug.experiment.builders import pending_download
        from tfganaug.experiment.estimate import TimingCache, describe_times, estimate_times

        config, lines = self.config, []
        run_dir = Path(out) if out else config.output.root / config.name

        def say(text):
            lines.append(text)
            log(text)

        points = sweep_points(config) if config.sweep else [(None, config)]
        checked = []
        with self.naming_errors():
            for value, point in points:
                if value is not None:
                    say(f"\n=== sweep: {config.sweep.key} = {value} ===")
                fetch = pending_download(point.data)
                if fetch:
                    say(f"data.download: true: fetching {fetch} first, as the run would (kept for the run)")
                splits = make_splits(point.data)
                check_metric(point, splits.train)
                folder = run_dir if value is None else run_dir / path_component(f"{config.sweep.key}={value}")
                say(describe_plan(point, splits) + "\n" + _headline_lines(point, splits, folder))
                checked.append((value, point, splits))
            if not estimate:
                for _, point, splits in checked:
                    check_models(point, splits)
                return DryRun("\n".join(lines), None)
            total, cache = 0.0, TimingCache()
            for value, point, splits in checked:
                times = estimate_times(point, splits, cache=cache)
                total += sum(t.seconds for t in times)
                if value is not None:
                    say(f"\n=== time of {config.sweep.key} = {value} ===")
                say("\n".join(describe_times(times)))
            if len(points) > 1:
                say(f"\nthe whole sweep: about {total / 3600:.1f} h")
        return DryRun("\n".join(lines), total)

    def run(self, out=None, overwrite=False, verbose=0, log=print):
        """Run the experiment (or its sweep) into a run folder; what `tfganaug train` does.

        Finished runs already in `out` with the same settings are loaded, not retrained.

        Args:
            out: the run folder (default: `<output.root>/<name>`, e.g. runs/quickstart).
            overwrite: run into a folder holding finished runs of another config (unchanged runs are kept).
            verbose: Keras `fit` verbosity of every classifier and GAN: 0 silent (one line per finished
                run still), 1 a progress bar, 2 one line per epoch (`tfganaug train -v`). When not 0,
                TensorFlow's start-up lines and Python warnings are shown too.
            log: where the run's lines go (`print`; a no-op function to stay silent).

        Returns:
            `Results` of the run folder (on a multi-worker run's non-chief workers: of their
            `worker-<i>/` copy, since the chief's folder may not be finished yet).
        """
        if not verbose:
            import_tensorflow_quietly()
        from tfganaug.experiment import train
        from tfganaug.experiment.progress import tracking

        run_dir = Path(out) if out else self.config.output.root / self.config.name
        with self.naming_errors(), tracking(self.config), _tensorflow_warnings(shown=bool(verbose)):
            written = train(self.config, run_dir, log=log, verbose=verbose, overwrite=overwrite)
        return Results(written)


def _headline_lines(config, splits, run_dir):
    """The dry run's word on the headline metric, and on the seeds an earlier run in `run_dir` needs."""
    from tfganaug.evaluation.headline import headline_metric
    from tfganaug.reporting.resolution import earlier_run_lines

    train = splits.train
    metric, why = headline_metric(config.output.metric, train.counts(), splits.test.counts(), train.class_names)
    lines = [f"headline metric: {metric}" + (f": {why}" if why else " (output.metric)")]
    try:
        earlier = json.loads((run_dir / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no earlier run, or one cut short: nothing to plan from
        earlier = None
    if isinstance(earlier, dict) and {"summary", "statistics"} <= earlier.keys():
        lines += earlier_run_lines(earlier, config.statistics.equivalence_margin)
    return "\n".join(lines)


@contextlib.contextmanager
def _tensorflow_warnings(shown):
    """TensorFlow's Python warnings (e.g. "triggered tf.function retracing", expected when every run
    builds a new model) hidden within the block unless `shown`."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    if not shown:
        logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass
class DryRun:
    """What `Experiment.dry_run` printed, and its estimate of the run's seconds on this machine
    (None when not estimated). Not counted: GAN metrics, `gan.select` and synthesis."""

    text: str
    seconds: Optional[float]

    def __str__(self):
        return self.text

    def __repr__(self):
        from tfganaug.experiment.progress import duration

        return f"DryRun(about {duration(self.seconds)})" if self.seconds is not None else "DryRun(not estimated)"


def table_records(rows, statistics, class_names):
    """The summary rows of results.json as flat records, one per group, named as the columns of
    results.csv (fractions, not percent; None where a value is undefined), but unrounded."""
    metric = statistics["metric"]
    metrics = list(dict.fromkeys(["accuracy", "balanced_accuracy", "macro_f1", metric]))
    records = []
    for row in rows:
        record = {"group": row["group"], "type": row["type"], "seeds": len(row["seeds"]), "train_size": row["train_size"]}
        for name in metrics:
            record[f"{name}_mean"], record[f"{name}_std"] = row[name]
        for name in class_names:
            record[f"acc_{name}_mean"], record[f"acc_{name}_std"] = row["per_class_accuracy"][name]
        record[f"{metric}_ci_low"], record[f"{metric}_ci_high"] = row["ci"][metric]
        for side in ("vs_baseline", "vs_control"):
            test = row[side].get(metric) or {}
            for value in COMPARISON_COLUMNS:
                record[f"{metric}_{side}_{value}"] = test.get(value)
        records.append(record)
    return records


@dataclass
class Results:
    """The results of a finished run folder (or sweep folder), as `tfganaug train` wrote them.

    A notebook shows the verdict and the table inline. `pandas.DataFrame(results.records)` is the table.

    Args:
        run_dir: the run folder (`--out` of `tfganaug train`).

    Attributes:
        records: one dict per group (per sweep point and group in a sweep, with the swept key as a
            column): the columns of results.csv, unrounded.
        verdict: the one-sentence answer (a sweep: one line per point).
        table: the results table as Markdown (a sweep: accuracy per group and point).
        results_json, results_md, report_html, report_md: paths of those files (a sweep: the first
            two are None; every point's are in `points`).
        plots: the PNG plots (per-class accuracy, training curves; a sweep: accuracy per point, then
            each point's).
        sample_grids: the last sample grid PNG of each trained GAN and CycleGAN.
        points: {sweep value: `Results` of that point} (empty for a run without a sweep).
    """

    run_dir: Path
    records: list = field(init=False)
    verdict: str = field(init=False)
    table: str = field(init=False)
    results_json: Optional[Path] = field(init=False)
    results_md: Optional[Path] = field(init=False)
    report_html: Path = field(init=False)
    report_md: Path = field(init=False)
    plots: list = field(init=False)
    sample_grids: list = field(init=False)
    points: dict = field(init=False)

    def __post_init__(self):
        from tfganaug.reporting.results import markdown_table
        from tfganaug.training.gan_folder import trained_gans

        self.run_dir = Path(self.run_dir)
        self.report_html, self.report_md = self.run_dir / "report.html", self.run_dir / "report.md"
        if (self.run_dir / SWEEP_TABLE).exists():
            self._read_sweep()
            return
        path = self.run_dir / RESULTS_FILE
        if not path.exists():
            raise UserError(f"{self.run_dir} holds no {RESULTS_FILE}: give the folder of a finished `tfganaug train` run")
        results = json.loads(path.read_text(encoding="utf-8"))
        self.results_json, self.results_md, self.points = path, self.run_dir / "results.md", {}
        self.records = table_records(results["summary"], results["statistics"], results["class_names"])
        self.verdict = results["verdict"]
        self.table = markdown_table(results["summary"], results["statistics"])
        self.plots = [p for p in (self.run_dir / "per_class_accuracy.png", self.run_dir / "training_curves.png")
                      if p.exists()]
        self.sample_grids = [sorted((folder / "samples").glob("epoch_*.png"))[-1]
                             for folder in trained_gans(self.run_dir, "all").values()
                             if list((folder / "samples").glob("epoch_*.png"))]

    def _read_sweep(self):
        from tfganaug.files import path_component

        config = yaml.safe_load((self.run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        (key, values), = ((k, v) for k, v in config["sweep"].items() if v is not None)  # the one swept setting
        folders = {value: self.run_dir / path_component(f"{key}={value}") for value in values}
        self.points = {value: Results(folder) for value, folder in folders.items() if (folder / RESULTS_FILE).exists()}
        self.results_json = self.results_md = None
        self.records = [{key: value, **record} for value, point in self.points.items() for record in point.records]
        self.verdict = "\n".join(f"{key} = {value}: {point.verdict}" for value, point in self.points.items())
        self.table = (self.run_dir / SWEEP_TABLE).read_text(encoding="utf-8").split("\n", 2)[2].strip() + "\n"
        self.plots = [self.run_dir / "sweep_accuracy.png"] + [p for point in self.points.values() for p in point.plots]
        self.sample_grids = [p for point in self.points.values() for p in point.sample_grids]

    def __repr__(self):
        return f"Results({self.run_dir}: {len(self.records)} rows)\n{self.verdict}"

    def _repr_markdown_(self):
        return f"**{self.verdict}**\n\n{self.table}"

    def _repr_html_(self):
        from tfganaug.reporting.report import _text_to_html  # the report's own Markdown-to-HTML

        return _text_to_html(f"{self.verdict}\n\n{self.table}")
