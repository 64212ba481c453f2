"""The one place where a validated config becomes objects: data, groups, classifiers, runs.

Everything it calls takes plain keyword arguments and never sees the config.
"""

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from typing import Optional

import keras
import numpy as np

from tfganaug import groups as control
from tfganaug.classical import build_classical_augmentation
from tfganaug.classify import evaluate_classifier, fit_classifier
from tfganaug.config import GANTraining, to_yaml
from tfganaug.data.animal_mnist import load_animal_mnist
from tfganaug.data.fashion_mnist import load_fashion_mnist
from tfganaug.data.folder import load_folder
from tfganaug.data.npz import load_npz
from tfganaug.data.pipeline import gan_dataset, one_hot
from tfganaug.data.sampling import SAME, split_pool
from tfganaug.data.tfds_source import load_tfds
from tfganaug.distribute import describe_strategy, runtime_scope, worker_folder
from tfganaug.export import export_generator
from tfganaug.errors import UserError
from tfganaug.files import write_text
from tfganaug.gan_training import (WEIGHTS_FILE, backed_up_epochs, load_trained_gan, settings_key, train_gan,
                                   trained_gans)
from tfganaug.gans import GAN_MODELS
from tfganaug.labeling import confident, synthesis_counts, targets, to_uint8
from tfganaug.networks.gan_networks import GAN_NETWORKS
from tfganaug.networks.classifiers import CLASSIFIER_BUILDERS
from tfganaug.translation import TranslationProvider, build_cyclegan_from_spec, translate, translation_plan
from tfganaug.plots import plot_per_class_accuracy, plot_sweep, plot_training_curves
from tfganaug.results import markdown_table, sweep_table, write_results


# ---------------------------------------------------------------- data


def _stream_cap(data):
    """Images per class a streaming (tfds) source must read: enough for train + val + extra, or None for all."""
    spc = data.samples_per_class
    if not isinstance(spc, int):
        return None
    parts = [spc] + [spc if v == SAME else v for v in (data.val_per_class, data.extra_per_class)]
    return sum(parts)


def load_source(data):
    """The `SourceData` named by a `DataConfig`."""
    if data.source == "animal_mnist":
        return load_animal_mnist(test_fraction=data.test_fraction, split_seed=data.seed)
    if data.source == "fashion_mnist":
        return load_fashion_mnist(allow_download=data.download)
    if data.source == "folder":
        return load_folder(data.path, data.image_size, channels=data.channels,
                           test_fraction=data.test_fraction, split_seed=data.seed)
    if data.source == "npz":
        return load_npz(data.path, test_fraction=data.test_fraction, split_seed=data.seed)
    return load_tfds(
        data.source.split(":", 1)[1], image_key=data.image_key, label_key=data.label_key,
        attributes=data.attributes, attribute_negatives=data.attribute_negatives,
        train_split=data.train_split, test_split=data.test_split, data_dir=data.data_dir,
        image_size=data.image_size, download=data.download,
        max_per_class=_stream_cap(data), max_test_per_class=data.test_per_class)


def make_splits(data):
    """Load the source and draw train / extra / val / test as the `DataConfig` asks."""
    source = load_source(data)
    return split_pool(source.pool, source.test, samples_per_class=data.samples_per_class, rare=data.rare,
                      val_per_class=data.val_per_class, extra_per_class=data.extra_per_class,
                      test_per_class=data.test_per_class, seed=data.seed)


# ---------------------------------------------------------------- groups


@dataclass
class TrainingPlan:
    """What one group trains on: images, target rows, and how to weight or augment them."""

    images: np.ndarray
    targets: np.ndarray
    class_weight: Optional[dict] = None
    augment: Optional[keras.Layer] = None


# The DAGAN study's discriminator starts with Gaussian noise on its input.
DEFAULT_INSTANCE_NOISE = {"dcgan": 0.05}


def build_gan(gan, image_shape, num_classes, seed):
    """A compiled, untrained GAN model as the `GANTraining` config describes."""
    cls, d_outputs, d_sees_label = GAN_MODELS[gan.model]
    build_g, build_d = GAN_NETWORKS[gan.network]
    if gan.network == "mlp":
        g_kwargs = {"hidden_units": tuple(gan.hidden_units)} if gan.hidden_units else {}
        d_kwargs = {"hidden_units": tuple(reversed(gan.hidden_units))} if gan.hidden_units else {}
    else:
        g_kwargs = {"base_filters": gan.base_filters} if gan.base_filters else {}
        d_kwargs = {"filters": tuple(gan.d_filters)} if gan.d_filters else {}
    generator = build_g(gan.latent_dim, image_shape, num_classes if cls.conditional else 0, **g_kwargs)
    discriminator = build_d(image_shape, d_outputs(num_classes), num_classes if d_sees_label else 0, **d_kwargs)
    model = cls(generator, discriminator, latent_dim=gan.latent_dim, num_classes=num_classes, loss=gan.loss,
                diffaugment=tuple(gan.diffaugment), seed=seed,
                instance_noise=DEFAULT_INSTANCE_NOISE.get(gan.network, 0.0) if gan.instance_noise is None
                else gan.instance_noise)
    model.compile(g_optimizer=keras.optimizers.Adam(gan.g_learning_rate, gan.beta_1, gan.beta_2),
                  d_optimizer=keras.optimizers.Adam(gan.d_learning_rate, gan.beta_1, gan.beta_2))
    return model


def build_gan_from_spec(spec):
    """An untrained compiled GAN from the `gan.json` of a GAN folder (see `gan_training`)."""
    return build_gan(GANTraining(**spec["gan"]), tuple(spec["image_shape"]), spec["num_classes"], spec["seed"])


class GANProvider:
    """Trains each distinct GAN (settings x data x seed) once, into `folder/<model>-<key>/`.

    Groups that differ only in labeling or synthesis share one trained GAN, as
    in the Fashion-MNIST study; a rerun loads the finished GAN, or resumes one
    that was cut short from its last epoch.
    """

    def __init__(self, folder, data_settings, log=print, verbose=2, jit_compile="auto"):
        self.folder, self.data_settings, self.log, self.verbose = folder, data_settings, log, verbose
        self.jit_compile = jit_compile
        self.models = {}

    def get(self, gan, train, seed):
        # sample_every changes what is logged, not what is trained.
        settings = gan.model_dump(mode="json", exclude={"sample_every"})
        key = settings_key(self.data_settings, settings, seed)
        if key in self.models:
            return self.models[key]
        folder = self.folder / f"{gan.model}-{key}"
        spec = {"gan": gan.model_dump(mode="json"), "image_shape": list(train.image_shape),
                "num_classes": train.num_classes, "class_names": list(train.class_names), "seed": seed}
        keras.utils.set_random_seed(seed)
        if (folder / WEIGHTS_FILE).exists():
            model, _ = load_trained_gan(folder, build_gan_from_spec)
            self.log(f"loaded GAN {gan.model} (seed {seed}) from {folder}")
        else:
            model = build_gan_from_spec(spec)
            started = time.time()
            self.log(f"training GAN {gan.model} ({gan.network}, {gan.epochs} epochs) on {len(train)} images, "
                     f"seed {seed}, into {folder}")
            resumed = backed_up_epochs(folder)
            if resumed:
                self.log(f"resuming GAN {gan.model} from its backup after epoch {resumed} of {gan.epochs}")
            train_gan(model, gan_dataset(train.images, train.labels, gan.batch_size, seed), epochs=gan.epochs,
                      folder=folder, spec=spec, class_names=train.class_names, seed=seed,
                      sample_every=gan.sample_every, verbose=self.verbose, jit_compile=self.jit_compile)
            self.log(f"trained GAN {gan.model} in {time.time() - started:.0f}s")
        self.models[key] = model
        return model


def synthesize(model, counts, seed, min_confidence=None, max_rounds=10):
    """Generate `counts[k]` uint8 images of each class k (unconditional: sum(counts), class -1).

    With `min_confidence` (ACGAN), keep only images whose auxiliary head agrees
    with their class at that confidence, generating more rounds as needed.
    """
    counts = np.asarray(counts, dtype=int)
    if not model.conditional:
        return to_uint8(model.generate(n=int(counts.sum()), seed=seed)), np.full(int(counts.sum()), -1)
    images, labels = [], []
    missing = counts.copy()
    for round_ in range(max_rounds if min_confidence is not None else 1):
        asked = np.repeat(np.arange(len(counts)), missing)
        if not len(asked):
            break
        fake = model.generate(labels=asked, seed=seed * 1000 + round_)
        keep = np.ones(len(asked), bool) if min_confidence is None else confident(model.class_probabilities(fake), asked, min_confidence)
        for k in range(len(counts)):
            chosen = np.flatnonzero(keep & (asked == k))[: missing[k]]
            images.append(fake[chosen])
            labels.append(asked[chosen])
            missing[k] -= len(chosen)
    return to_uint8(np.concatenate(images)), np.concatenate(labels)


def plan_group(group, splits, seed, gans=None, translators=None):
    """The `TrainingPlan` of a group for one seed (`gans`: a `GANProvider`, needed by GAN groups;
    `translators`: a `TranslationProvider`, needed by translation groups)."""
    train, k = splits.train, splits.train.num_classes
    class_weight = augment = None
    if group.type == "duplicate":
        train = control.duplicate(train, group.copies)
    elif group.type == "more_real":
        train = train.concat(splits.extra)
    elif group.type == "oversample":
        train = control.oversample(train, seed)
    elif group.type == "class_weight":
        class_weight = control.balanced_class_weights(train.counts())
    if getattr(group, "augment", None) is not None:
        augment = build_classical_augmentation(train.image_shape, seed=seed, **group.augment.model_dump())
    if group.type == "gan":
        counts = synthesis_counts(train.counts(), ratio=group.synthesize.ratio, fill=group.synthesize.fill)
        model = gans.get(group.gan, train, seed)
        images, labels = synthesize(model, counts, seed, group.min_confidence)
        return TrainingPlan(np.concatenate([train.images, images]),
                            targets(train.labels, labels, k, group.labeling), None, augment)
    if group.type == "translation":
        plan = translation_plan(group.translations, train.counts(), train.class_names)
        images, labels = translate(translators, plan, train, seed)
        return TrainingPlan(np.concatenate([train.images, images]),
                            one_hot(np.concatenate([train.labels, labels]), k), None, augment)
    return TrainingPlan(train.images, one_hot(train.labels, k), class_weight, augment)


def planned_size(group, splits):
    """Training images a group will use (without training any GAN): for --dry-run."""
    train = splits.train
    if group.type == "gan":
        return len(train) + int(synthesis_counts(train.counts(), ratio=group.synthesize.ratio, fill=group.synthesize.fill).sum())
    if group.type == "translation":
        return len(train) + sum(row[3] for row in translation_plan(group.translations, train.counts(), train.class_names))
    return len(plan_group(group, splits, 0).images)


def build_classifier(classifier, input_shape, num_outputs):
    """A fresh classifier model as the `ClassifierConfig` describes."""
    return CLASSIFIER_BUILDERS[classifier.model](input_shape, num_outputs, **classifier.builder_options())


# ---------------------------------------------------------------- runs


def run_key(config, group, seed):
    """A hash of everything that determines one run's result: a rerun with the same key is skipped."""
    parts = {"data": config.data.model_dump(mode="json"), "classifier": config.classifier.model_dump(mode="json"),
             "group": group.model_dump(mode="json"), "seed": seed}
    used = {t.model for t in getattr(group, "translations", [])}
    if used:  # only then, so that the keys of earlier runs without translations stay valid
        parts["cyclegans"] = [c.model_dump(mode="json") for c in config.cyclegans if c.name in used]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def run_one(config, group, seed, splits, gans=None, verbose=2, log_dir=None, translators=None):
    """Train one group's classifier with one seed and evaluate it on the test set; return the record."""
    plan = plan_group(group, splits, seed, gans, translators)
    keras.utils.set_random_seed(seed)
    model = build_classifier(config.classifier, splits.train.image_shape, plan.targets.shape[1])
    started = time.time()
    history = fit_classifier(
        model, plan.images, plan.targets, val=(splits.val.images, splits.val.labels),
        epochs=config.classifier.epochs, batch_size=config.classifier.batch_size,
        learning_rate=config.classifier.learning_rate, seed=seed, class_weight=plan.class_weight,
        augment=plan.augment, patience=config.classifier.patience, verbose=verbose, log_dir=log_dir,
        jit_compile=config.runtime.jit_compile)
    metrics = evaluate_classifier(model, splits.test)
    return {"group": group.label, "type": group.type, "seed": seed, "train_size": int(len(plan.images)),
            "seconds": round(time.time() - started, 1), **metrics, "history": history}


def describe_splits(splits):
    """Lines giving the size and per-class counts of each split."""
    lines = []
    for name in ("train", "extra", "val", "test"):
        part = getattr(splits, name)
        counts = ", ".join(f"{c}={n}" for c, n in zip(part.class_names, part.counts()))
        lines.append(f"  {name:5s} {len(part):6d} images  ({counts})")
    return lines


def describe_plan(config, splits):
    """The resolved plan printed by --dry-run and at the start of a run."""
    lines = [f"experiment {config.name}: {len(config.groups)} groups x {len(config.seeds)} seeds "
             f"= {len(config.groups) * len(config.seeds)} classifier runs",
             f"data: {config.data.source}, images {splits.train.image_shape}, classes {list(splits.train.class_names)}"]
    lines += describe_splits(splits)
    lines.append(f"classifier: {config.classifier.model}, {config.classifier.epochs} epochs, "
                 f"batch {config.classifier.batch_size}, lr {config.classifier.learning_rate}")
    for group in config.groups:
        lines.append(f"  group {group.label:20s} type {group.type:12s} {planned_size(group, splits):6d} training images")
    lines.append(f"seeds: {config.seeds}")
    return "\n".join(lines)


def train(config, run_dir, log=print, verbose=None):
    """Run the experiment, or its sweep, into `run_dir` on the devices and precision of `config.runtime`.

    Batch sizes in the config are global: with N replicas each gets 1/N of every
    batch. The runtime is not part of the run keys: finished runs are reused when
    only it changes.
    """
    with runtime_scope(config.runtime) as strategy:
        if strategy.num_replicas_in_sync > 1 and config.runtime.jit_compile is True:
            raise UserError(f"runtime.jit_compile: true with {strategy.num_replicas_in_sync} replicas: Keras cannot "
                            "XLA-compile a training step under MirroredStrategy; set runtime.jit_compile: auto "
                            "(XLA off with several replicas) or train on one device")
        if strategy.num_replicas_in_sync > 1:
            log(f"training on {describe_strategy(strategy)}; batch sizes are global")
        return (run_sweep if config.sweep else run_experiment)(config, worker_folder(run_dir, strategy), log, verbose)


def run_experiment(config, run_dir, log=print, verbose=None):
    """Run every group with every seed, write results and plots into `run_dir`; return the summary rows.

    A (group, seed) already finished with the same settings (same run key) is
    loaded from `run_dir/runs/` instead of retrained.
    """
    verbose = verbose if verbose is not None else (1 if sys.stdout.isatty() else 2)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.resolved.yaml", to_yaml(config))
    splits = make_splits(config.data)
    log(describe_plan(config, splits))
    records, total = [], len(config.groups) * len(config.seeds)
    data_settings, jit = config.data.model_dump(mode="json"), config.runtime.jit_compile
    gans = GANProvider(run_dir / "gans", data_settings, log, verbose, jit)
    translators = TranslationProvider(run_dir / "gans", data_settings, config.cyclegans, log, verbose, jit)
    for group in config.groups:
        for seed in config.seeds:
            key = run_key(config, group, seed)
            path = run_dir / "runs" / f"{group.label}__seed{seed}.json"
            cached = json.loads(path.read_text()) if path.exists() else None
            if cached is not None and cached.get("key") == key:
                record, status = cached, "already done"
            else:
                log_dir = run_dir / "tensorboard" / f"{group.label}__seed{seed}"
                record = {**run_one(config, group, seed, splits, gans, verbose, log_dir, translators), "key": key}
                write_text(path, json.dumps(record))
                status = f"{record['seconds']}s"
            records.append(record)
            log(f"[{len(records)}/{total}] {group.label} seed {seed}: accuracy {100 * record['accuracy']:.2f}%, "
                f"balanced {100 * record['balanced_accuracy']:.2f}%, macro-F1 {100 * record['macro_f1']:.2f}% ({status})")
    class_names = splits.train.class_names
    rows = write_results(run_dir, records, class_names, config.name)
    plot_per_class_accuracy(rows, class_names, run_dir / "per_class_accuracy.png")
    plot_training_curves(records, run_dir / "training_curves.png")
    # Imported here: both modules build their models through this one.
    from tfganaug.gan_evaluation import evaluate_gans
    from tfganaug.report import write_report

    if config.output.gan_metrics and any(g.type == "gan" for g in config.groups):
        evaluate_gans(config, run_dir, keep_done=True, splits=splits, log=log)
    if config.output.export_gans:
        export_run_gans(config, run_dir, log)
    write_report(run_dir)
    log("\n" + markdown_table(rows, class_names))
    log(f"results, plots and report.html are in {run_dir}")
    return rows


def export_run_gans(config, run_dir, log=print):
    """Export every trained GAN and CycleGAN of the run as
    `<export_root>/<experiment>-<model or cyclegan-name>-seed<k>/<next version>/`."""
    names = []
    for folder_name, folder in trained_gans(run_dir, "all").items():
        cyclegan = folder_name.startswith("cyclegan-")
        model, spec = load_trained_gan(folder, build_cyclegan_from_spec if cyclegan else build_gan_from_spec)
        model_name = f"cyclegan-{spec['cyclegan']['name']}" if cyclegan else spec["gan"]["model"]
        name = f"{config.name}-{model_name}-seed{spec['seed']}"
        name = name if name not in names else f"{config.name}-{folder_name}"  # two settings of one model and seed
        names.append(name)
        log(f"exported {folder_name} to {export_generator(model, spec, config.output.export_root, name)}")


def sweep_points(config):
    """[(value, the config of that point)] of a sweep: `data.samples_per_class` replaced by each value."""
    return [(value, config.model_copy(update={"sweep": None,
                                              "data": config.data.model_copy(update={"samples_per_class": value})}))
            for value in config.sweep.samples_per_class]


def run_sweep(config, run_dir, log=print, verbose=None):
    """Run the experiment once per `sweep.samples_per_class` value, each in `run_dir/samples_per_class=N/`.

    Writes `sweep.md` (accuracy per group and value) and `sweep_accuracy.png`
    (accuracy against samples per class, one line per group) into `run_dir`.
    """
    key = "samples_per_class"
    points = []
    for value, point in sweep_points(config):
        log(f"\n=== sweep: {key} = {value} ===")
        points.append((value, run_experiment(point, run_dir / f"{key}={value}", log, verbose)))
    write_text(run_dir / "config.resolved.yaml", to_yaml(config))
    table = sweep_table(points, key)
    write_text(run_dir / "sweep.md", f"# Sweep: {config.name}\n\nTest accuracy in %, mean ± std over seeds.\n\n{table}")
    plot_sweep(points, key, run_dir / "sweep_accuracy.png")
    from tfganaug.report import write_report  # see run_experiment

    write_report(run_dir)
    log("\n" + table)
    log(f"sweep table and plot are in {run_dir}")
    return points
