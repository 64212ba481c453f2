"""Running an experiment: every group with every seed, the results, GAN metrics, exports and sweeps."""

import json
import sys
import time

import keras
import numpy as np
import yaml

from tfganaug.config import to_yaml, validate
from tfganaug.data.pipeline import one_hot
from tfganaug.data.sampling import resolve_class
from tfganaug.distribute import describe_strategy, runtime_scope, worker_folder
from tfganaug.errors import UserError
from tfganaug.evaluation.chance import chance_warnings
from tfganaug.evaluation.collapse import collapse_warnings, collapsed_classes
from tfganaug.evaluation.gan_evaluation import evaluate_gans
from tfganaug.evaluation.headline import headline_metric
from tfganaug.evaluation.metrics import classification_metrics
from tfganaug.experiment.builders import RunData, build_from_spec, check_replica_batches, classifier_recipe, make_splits
from tfganaug.experiment.estimate import check_models, run_model_seconds
from tfganaug.experiment.idle import idle_groups
from tfganaug.experiment.models import RunModels
from tfganaug.experiment.planning import describe_plan, plan_group
from tfganaug.experiment.progress import Progress, tracker
from tfganaug.files import folder_lock, inside, path_component, read_json, write_text
from tfganaug.layout import CONFIG_FILE, RUNS_DIR
from tfganaug.reporting.plots import plot_per_class_accuracy, plot_sweep, plot_training_curves
from tfganaug.reporting.report import write_report
from tfganaug.reporting.results import filter_notes, markdown_table, sweep_table, write_results
from tfganaug.serving.export import export_generator, export_name
from tfganaug.sharing.tasks import planned_locks
from tfganaug.training.classifier import predict_classes
from tfganaug.training.gan_folder import load_trained_gan, stable_hash, trained_gans


def run_key(config, group, seed):
    """A hash of everything that determines one run's result: a rerun with the same key is skipped."""
    parts = {"data": config.data.key_dump(), "classifier": config.classifier.model_dump(mode="json"),
             "group": group.key_dump(), "seed": seed}
    used = {t.model for t in getattr(group, "translations", [])}
    if used:  # only then, so that the keys of earlier runs without translations stay valid
        parts["cyclegans"] = [c.model_dump(mode="json") for c in config.cyclegans if c.name in used]
    return stable_hash(parts)


def run_one(config, group, seed, splits, models=None, verbose=2, log_dir=None):
    """Train one group's classifier with one seed and evaluate it on the test set; return the record."""
    plan = plan_group(group, splits, seed, models)
    recipe = classifier_recipe(config)
    keras.utils.set_random_seed(seed)
    model = recipe.build(splits.train.image_shape, plan.targets.shape[1])
    started = time.time()
    val, k = (splits.val.images, splits.val.labels), splits.train.num_classes
    history = recipe.fit(model, plan.images, plan.targets, val, seed, verbose=verbose, loss=plan.loss,
                         augment=plan.augment, log_dir=log_dir, sample_weight=plan.sample_weight, num_classes=k,
                         fresh=plan.fresh, mix=plan.mix)
    extra = {"synthesis": plan.synthesis} if plan.synthesis else {}
    if getattr(group, "finetune_epochs", 0):
        extra.update(finetune(model, recipe, plan, splits, seed, group.finetune_epochs, verbose))
    predictions = predict_classes(model, splits.test.images, k)
    metrics = classification_metrics(splits.test.labels, predictions, splits.test.class_names)
    # Per test image, so that groups can be compared image by image (the paired bootstrap).
    per_image = {"test_labels": splits.test.labels.tolist(), "test_predictions": predictions.tolist()}
    # The precision is recorded because `runtime.mixed_precision: auto` depends on the machine (and a
    # finished run is reused when only the runtime changes).
    return {"group": group.label, "type": group.type, "seed": seed, "train_size": int(plan.size),
            "seconds": round(time.time() - started, 1), "precision": keras.mixed_precision.global_policy().name,
            "loss": plan.loss or {"type": "cross_entropy"}, **metrics, "history": history, **extra, **per_image}


def _val_accuracy(model, val, num_classes):
    """The accuracy on the validation split `val` as `fit_classifier` picks epochs by it (None without one)."""
    if not len(val):
        return None
    return float(np.mean(predict_classes(model, val.images, num_classes) == val.labels))


def finetune(model, recipe, plan, splits, seed, epochs, verbose=2):
    """Train `model` `epochs` more on the real training images alone (a fresh optimizer), with the group's
    own augmentation and loss (without them, fine-tuning would be a confound against the controls), and
    keep the weights from before it when they do better on the validation split.

    Returns the record's additions: `finetune_history`, and `finetune`: which weights were kept
    ("finetuned" or "before_finetune") and the validation accuracy of both.
    """
    real, k = splits.train, splits.train.num_classes
    before, accuracy_before = model.get_weights(), _val_accuracy(model, splits.val, k)
    history = recipe.fit(model, real.images, one_hot(real.labels, plan.targets.shape[1]),
                         (splits.val.images, splits.val.labels), seed, verbose=verbose, epochs=epochs,
                         num_classes=k, augment=plan.augment, mix=plan.mix, loss=plan.loss)
    accuracy_after = _val_accuracy(model, splits.val, k)
    kept = "finetuned"
    if accuracy_before is not None and accuracy_before > accuracy_after:  # a tie keeps the fine-tuned weights
        model.set_weights(before)
        kept = "before_finetune"
    return {"finetune_history": history, "finetune": {"kept": kept, "val_accuracy_before": accuracy_before,
                                                      "val_accuracy_after": accuracy_after}}


def check_runtime(config, strategy):
    """Refuse, before anything trains, settings `strategy`'s replicas cannot run (`UserError`, `ConfigError`)."""
    if strategy.num_replicas_in_sync > 1 and config.runtime.jit_compile is True:
        raise UserError(f"runtime.jit_compile: true with {strategy.num_replicas_in_sync} replicas: Keras cannot "
                        "XLA-compile a training step under MirroredStrategy; set runtime.jit_compile: auto "
                        "(XLA off with several replicas) or train on one device")
    check_replica_batches(config, strategy.num_replicas_in_sync)


def train(config, run_dir, log=print, verbose=None, overwrite=False):
    """Run the experiment, or its sweep, into `run_dir` on the devices and precision of `config.runtime`;
    return the folder this process wrote: `run_dir`, or `run_dir/worker-<i>` on a multi-worker run's
    non-chief workers (which may finish before the chief has written `run_dir`).

    Batch sizes in the config are global: with N replicas each gets 1/N of every
    batch. The runtime is not part of the run keys: finished runs are reused when
    only it changes.
    """
    with runtime_scope(config.runtime) as strategy:
        check_runtime(config, strategy)
        if strategy.num_replicas_in_sync > 1:
            log(f"training on {describe_strategy(strategy)}; batch sizes are global")
        folder = worker_folder(run_dir, strategy)
        (run_sweep if config.sweep else run_experiment)(config, folder, log, verbose, overwrite)
        return folder


def run_experiment(config, run_dir, log=print, verbose=None, overwrite=False):
    """Run every group with every seed, write results and plots into `run_dir`; return the summary rows.

    A (group, seed) already finished with the same settings (same run key) is
    loaded from `run_dir/runs/` instead of retrained. The data is checked before
    the folder is made; then the folder is locked against a second writer, and a
    folder with finished runs of another config is refused unless `overwrite`.
    """
    data = RunData(config)
    check_models(config, data.splits())  # bad data, and networks too big for it, are refused before the folder exists
    check_metric(config, data.splits().train)
    with planned_locks(run_dir), folder_lock(run_dir):
        refuse_other_config(run_dir, config, overwrite)
        return _run_groups(config, run_dir, data, log, verbose)


def _differences(old, new, prefix=""):
    """Dotted key paths where two config dumps differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [f"{prefix[:-1]} ({json.dumps(old)} -> {json.dumps(new)})"]


def refuse_other_config(run_dir, config, overwrite=False):
    """A `UserError` naming the differing keys when `run_dir` holds finished runs of another config
    (`runtime`, `output` and `description` aside: they change no result), unless `overwrite`."""
    old_file = run_dir / CONFIG_FILE
    finished = any((run_dir / RUNS_DIR).glob("*.json")) or (run_dir / "sweep.md").exists()
    if overwrite or not finished or not old_file.exists():
        return
    try:
        old = validate(yaml.safe_load(old_file.read_text(encoding="utf-8")), str(old_file)).key_dump()
    except (UserError, yaml.YAMLError, UnicodeDecodeError):
        return  # written by a version whose keys this one no longer reads: nothing to compare
    new = config.key_dump()
    for section in ("runtime", "output", "description"):
        old.pop(section, None), new.pop(section, None)
    changed = _differences(old, new)
    if changed:
        shown = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise UserError(f"{run_dir} holds finished runs of another config ({shown}); choose a new --out, or add "
                        "--overwrite to run this config here (finished runs whose settings did not change are kept)")


def _run_groups(config, run_dir, data, log, verbose):
    verbose = verbose if verbose is not None else (1 if sys.stdout.isatty() else 2)
    write_text(run_dir / CONFIG_FILE, to_yaml(config))
    log(describe_plan(config, data.splits()))
    if config.data.resplit_per_seed:
        log(f"a new split for every seed (data.resplit_per_seed): split seeds "
            f"{', '.join(str(config.data.for_seed(s).seed) for s in config.seeds)}")
    for note in idle_groups(config.groups, data.splits()).notes:  # said before hours go, and in the results
        log(note)
    models = RunModels(config, run_dir, data, log, verbose)
    records = run_records(config, run_dir, data, models, log, verbose)
    return gather(config, run_dir, data, records, models, log)


def run_path(run_dir, group, seed):
    """The record file of one finished (group, seed) run."""
    return inside(run_dir, RUNS_DIR, f"{group.label}__seed{seed}.json")


def run_records(config, run_dir, data, models, log=print, verbose=2, runs=None):
    """Train (or load, when finished with the same run key) each (group, seed) of `runs` (default: every
    group with every seed, group by group) and return their records, writing each into `run_dir/runs/`."""
    # A shard's time left counts its own runs only.
    progress = tracker(config) if runs is None else Progress([group.label for group, _ in runs])
    if runs is None:  # the time left counts the GANs and CycleGANs still to train, timed as --dry-run does
        progress.expect_models(run_model_seconds(config, data.splits(), trained=models.trained))
    runs = runs if runs is not None else [(group, seed) for group in config.groups for seed in config.seeds]
    records = []
    for group, seed in runs:
        splits = data.splits(seed)
        key = run_key(config, group, seed)
        path = run_path(run_dir, group, seed)
        cached = read_json(path, log, what="running it again")
        if cached is not None and cached.get("key") == key:
            record, status = cached, "already done"
            models.ensure(group, splits.train, seed)
        else:
            log_dir = inside(run_dir, "tensorboard", f"{group.label}__seed{seed}")
            record = {**run_one(config, group, seed, splits, models, verbose, log_dir), "key": key}
            write_text(path, json.dumps(record))
            status = f"{record['seconds']}s"
            for line in filter_notes([record], splits.train.class_names, short_only=True):
                log(line)
        records.append(record)
        log(f"[{len(records)}/{len(runs)}] {group.label} seed {seed}: accuracy {100 * record['accuracy']:.2f}%, "
            f"balanced {100 * record['balanced_accuracy']:.2f}%, macro-F1 {100 * record['macro_f1']:.2f}% ({status})"
            + progress.describe(group.label, trained=status != "already done"))
    return records


def gather(config, run_dir, data, records, models, log=print):
    """From the run records: GAN metrics, results, plots, exports and the report of `run_dir`; return
    the summary rows."""
    train = data.splits().train
    class_names, quality = train.class_names, {}
    idle = idle_groups(config.groups, data.splits())
    notes = idle.notes + filter_notes(records, class_names)
    if config.output.gan_metrics and any(g.type == "gan" for g in config.groups):
        metrics = evaluate_gans(run_dir, data_for=data.for_seed, build=build_from_spec, keep_done=True, log=log)
        notes += chance_warnings(metrics) + collapse_warnings(metrics)
        quality = gan_quality_by_group(config, models, metrics)
    metric, why = headline_metric(config.output.metric, train.counts(), data.splits().test.counts(), class_names)
    rows, statistics, verdict = write_results(run_dir, records, class_names, config.name, notes, metric,
                                              rare_classes(config.data, train), quality, why,
                                              config.statistics.equivalence_margin, idle.same_as, idle.no_images)
    plot_per_class_accuracy(rows, class_names, run_dir / "per_class_accuracy.png")
    plot_training_curves(records, run_dir / "training_curves.png")
    if config.output.export_gans:
        export_run_gans(config, run_dir, log)
    write_report(run_dir)
    log("\n" + markdown_table(rows, statistics))
    log(verdict)
    log(f"results, plots and report.html are in {run_dir}")
    return rows


def rare_classes(data, train):
    """The classes whose recall is the `rare_recall` metric: those of `data.rare`, else the classes with
    the fewest training images; none when every class has as many (balanced data has no rare class)."""
    names = train.class_names
    if data.rare:
        return [names[resolve_class(key, names, "data.rare")] for key in data.rare]
    counts = train.counts()
    if counts.min() == counts.max():
        return []
    return [names[c] for c in np.flatnonzero(counts == counts.min())]


def check_metric(config, train):
    """A `UserError` before any training when `output.metric: rare_recall` finds no rare class."""
    if config.output.metric == "rare_recall" and not rare_classes(config.data, train):
        raise UserError(f"output.metric: rare_recall needs a rare class, but every class of the training split has "
                        f"{int(train.counts()[0])} images; name one with data.rare (e.g. {{2: 0.2}}) or choose "
                        "output.metric: balanced_accuracy")


def gan_quality_by_group(config, models, metrics):
    """{GAN group: its GANs' mean GAN-train, real-trained classifier accuracy and recall over seeds, and
    every class flagged as collapsed}."""
    quality = {}
    for group in (g for g in config.groups if g.type == "gan"):
        names = [models.gan_folder_name(group.gan, seed) for seed in config.seeds]
        entries = [metrics[name] for name in names if name in metrics]
        if entries:
            mean = lambda values: float(np.mean(values)) if values else None  # noqa: E731
            quality[group.label] = {
                "gan_train": mean([e["gan_train"] for e in entries if e.get("gan_train") is not None]),
                "real_accuracy": mean([e["real_accuracy"] for e in entries if e.get("real_accuracy") is not None]),
                "recall": mean([e["overall"]["recall"] for e in entries]),
                "near_chance": any(e.get("near_chance") for e in entries),
                "collapsed": sorted({c for e in entries for c in collapsed_classes(e)})}
    return quality


def export_run_gans(config, run_dir, log=print):
    """Export every trained GAN and CycleGAN of the run as
    `<export_root>/<experiment>-<model or cyclegan-name>-seed<k>/<next version>/`."""
    names = []
    for folder_name, folder in trained_gans(run_dir, "all").items():
        model, spec = load_trained_gan(folder, build_from_spec)
        name = export_name(config.name, spec, with_seed=True)
        name = name if name not in names else f"{config.name}-{folder_name}"  # two settings of one model and seed
        names.append(name)
        log(f"exported {folder_name} to {export_generator(model, spec, config.output.export_root, name)}")


def sweep_points(config):
    """[(value, the config of that point)] of a sweep: the swept setting replaced by each value."""
    return [(value, config.sweep_point(value)) for value in config.sweep.values]


def run_sweep(config, run_dir, log=print, verbose=None, overwrite=False):
    """Run the experiment once per value of the swept setting, each in `run_dir/<key>=<value>/`.

    Writes `sweep.md` (accuracy per group and value) and `sweep_accuracy.png`
    (accuracy against samples per class, one line per group) into `run_dir`.
    """
    for _, point in sweep_points(config):
        make_splits(point.data)  # every point's data is checked before the first one trains
    with planned_locks(run_dir), folder_lock(run_dir):
        refuse_other_config(run_dir, config, overwrite)
        return _run_points(config, run_dir, log, verbose, overwrite)


def _run_points(config, run_dir, log, verbose, overwrite):
    key = config.sweep.key
    points = []
    for value, point in sweep_points(config):
        log(f"\n=== sweep: {key} = {value} ===")
        points.append((value, run_experiment(point, inside(run_dir, path_component(f"{key}={value}")), log, verbose,
                                             overwrite)))
    return gather_sweep(config, run_dir, points, log)


def gather_sweep(config, run_dir, points, log=print):
    """Write the sweep's config, `sweep.md`, `sweep_accuracy.png` and report from [(value, summary rows)]."""
    key = config.sweep.key
    write_text(run_dir / CONFIG_FILE, to_yaml(config))
    table = sweep_table(points, key)
    write_text(run_dir / "sweep.md", f"# Sweep: {config.name}\n\nTest accuracy in %, mean ± std over seeds.\n\n{table}")
    plot_sweep(points, key, run_dir / "sweep_accuracy.png")
    write_report(run_dir)
    log("\n" + table)
    log(f"sweep table and plot are in {run_dir}")
    return points
