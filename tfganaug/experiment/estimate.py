"""How long a run will take on this machine (`--dry-run`): a few timed training steps of each distinct
model at its configured sizes, multiplied out over epochs, groups and seeds.

Per model: runs x (set-up + steps x seconds per step). The set-up (build, compile, the first
step, which traces) and the step time are measured on random images of the run's shape, through
the same `fit` the run uses. Not counted: GAN metrics, `gan.select` evaluations, image synthesis;
and classifier runs may stop early (`classifier.patience`), so their part is an upper bound.
A model timed once is not timed again for the same settings (`TimingCache`): the points of a sweep
over `samples_per_class` reuse one timing, and so do GAN models (GAN, SGAN, DAGAN, ...) on the same
network and sizes, whose steps differ in losses and heads only, and CycleGANs of the same networks
between other classes (the line says which model was timed).
"""

import math
import re
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfganaug.data.pipeline import domain_dataset, gan_dataset, one_hot, prefetched
from tfganaug.distribute import precision_scope
from tfganaug.errors import ConfigError
from tfganaug.experiment.builders import (
    build_cyclegan,
    build_gan,
    classifier_recipe,
    gan_schedule,
)
from tfganaug.experiment.planning import planned_size
from tfganaug.experiment.progress import duration
from tfganaug.synthesis.translation import domain_classes
from tfganaug.training.classifier import EXECUTION_STEPS

TIMED_STEPS = 3  # executions (of `steps_per_execution` steps) at most, after the first, which traces
STEP_BUDGET_SECONDS = 1.0  # fewer timed steps once they add up to this: a slow step's time is clear from one
LONG_RUN_SECONDS = 3600  # one model's training above this is flagged
NOT_PER_STEP = ("epochs", "kimg", "sample_every", "select")  # GAN settings a training step does not feel
CYCLEGAN_NOT_PER_STEP = ("name", "domain_a", "domain_b", "epochs", "decay_epochs", "sample_every")


@dataclass
class ModelTime:
    """The estimated training time of one model of a run, over all its runs."""

    what: str
    runs: int
    steps: int  # training steps of all runs together
    setup_seconds: float  # per run
    step_seconds: float
    advice: str  # what to lower when one run takes too long
    timed_as: str = ""  # the model whose timing this one shares (same network, another GAN model), if any

    @property
    def seconds(self):
        return self.runs * self.setup_seconds + self.steps * self.step_seconds

    @property
    def seconds_per_run(self):
        return self.seconds / self.runs


class StepTimer(keras.callbacks.Callback):
    """Seconds from `fit`'s start to the end of its first step, and per step of every later execution (Keras
    calls the batch hooks once per execution of `steps_per_execution` steps, with the last step's index);
    training stops after `TIMED_STEPS` later executions, or fewer once they took `STEP_BUDGET_SECONDS`."""

    def __init__(self, started):
        super().__init__()
        self.started, self.executions, self.steps_done = started, [], 0  # executions: (seconds, steps)

    def on_train_batch_begin(self, batch, logs=None):
        self.begun = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        since = self.started if not self.executions else self.begun
        self.executions.append((time.perf_counter() - since, batch + 1 - self.steps_done))
        self.steps_done = batch + 1
        if len(self.executions) > 1 and sum(seconds for seconds, _ in self.executions[1:]) >= STEP_BUDGET_SECONDS:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True  # one epoch of 1 + TIMED_STEPS executions is all it needs

    def result(self):
        """(set-up seconds: build to the first step's end, median seconds per step of the later executions)."""
        step = float(np.median([seconds / steps for seconds, steps in self.executions[1:]]))
        seconds, steps = self.executions[0]
        return seconds - (steps - 1) * step, step


def _random_images(count, shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count,) + tuple(shape), dtype=np.uint8)


class TimingCache(dict):
    """(set-up seconds, seconds per step) of the models timed so far, by everything that sets them:
    the model's settings, the image shape, the classes, the batch and the runtime."""

    def __init__(self):
        super().__init__()
        self.names = {}  # settings -> the name of the model timed for them
        self.built = set()  # models built (not timed) to check that they fit the images

    def timed(self, time_it, *settings, name=""):
        """`time_it()` the first time these settings are seen; the same timing after. Returns
        (set-up seconds, seconds per step, the `name` given when it was timed)."""
        key = repr(settings)
        if key not in self:
            self[key], self.names[key] = time_it(), name
        return (*self[key], self.names[key])


def _time_classifier(config, image_shape, num_classes):
    c = config.classifier
    recipe = classifier_recipe(config)
    # EXECUTION_STEPS steps per execution, as `fit_classifier` runs an epoch of a multiple of them (a run's
    # epochs may take fewer: the largest count up to EXECUTION_STEPS that divides them).
    images = _random_images(c.batch_size * EXECUTION_STEPS * (1 + TIMED_STEPS), image_shape)
    targets = one_hot(np.arange(len(images)) % num_classes, num_classes)
    timer = StepTimer(time.perf_counter())
    model = _built("classifier", "classifier", image_shape, lambda: recipe.build(image_shape, num_classes))
    recipe.fit(model, images, targets, None, 0, verbose=0, callbacks=[timer])
    return timer.result()


def _time_fit(build, data):
    timer = StepTimer(time.perf_counter())
    build().fit(data, epochs=1, steps_per_epoch=1 + TIMED_STEPS, callbacks=[timer], verbose=0, shuffle=False)
    return timer.result()


def _gan_key(gan):
    """What makes two GAN groups share one trained GAN: their settings, but for `sample_every`."""
    return str(sorted((k, v) for k, v in gan.key_dump().items() if k != "sample_every"))


def distinct_gans(config):
    """The GAN settings of the run's GAN groups, each once (groups with the same settings share a GAN)."""
    gans = {}
    for group in (g for g in config.groups if g.type == "gan"):
        gans.setdefault(_gan_key(group.gan), group.gan)
    return list(gans.values())


def used_cyclegans(config):
    used = {t.model for g in config.groups if g.type == "translation" for t in g.translations}
    return [c for c in config.cyclegans if c.name in used]


def _built(what, key, shape, build):
    """`build()`, with a network that cannot be made for these images (too small for its
    down-samplings, say) reported as a `ConfigError` naming the key, before any training."""
    try:
        return build()
    except ValueError as exc:
        lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines()
                 if line.strip() and not line.startswith("Exception encountered")]
        raise ConfigError(f"{key}: the {what} cannot be built for {shape} images: {' '.join(lines)[:300]}") from None


def check_models(config, splits):
    """Build every distinct model of the run at its configured sizes, training nothing (`--dry-run`)."""
    shape, k = splits.train.image_shape, splits.train.num_classes
    _built("classifier", "classifier", shape, lambda: classifier_recipe(config).build(shape, k))
    for gan in distinct_gans(config):
        _built(f"GAN {gan.model} ({gan.network})", "gan", shape, lambda: build_gan(gan, shape, k, 0))
    for cfg in used_cyclegans(config):
        _built(f"CycleGAN {cfg.name}", f"cyclegans.{cfg.name}", shape, lambda: build_cyclegan(cfg, shape, 0))


def estimate_times(config, splits, cache=None):
    """[`ModelTime`] of the classifier, each distinct GAN and each CycleGAN of `config` on `splits`.

    Every model is built (a network that does not fit the images is a `ConfigError`, as in
    `check_models`) and timed, unless `cache` (a `TimingCache`) holds a timing of the same settings;
    timed in the precision the run trains in (`runtime.mixed_precision`: `auto` is bfloat16 on a CPU
    with bfloat16 arithmetic).
    """
    with precision_scope(config.runtime.mixed_precision):
        return _estimate_times(config, splits, TimingCache() if cache is None else cache)


def _estimate_times(config, splits, cache):
    train, seeds = splits.train, len(config.seeds)
    shape, k = train.image_shape, train.num_classes
    c, runtime = config.classifier, config.runtime.model_dump(mode="json")
    keras.utils.set_random_seed(0)
    steps = sum(math.ceil(planned_size(g, splits) / c.batch_size) for g in config.groups) * c.epochs * seeds
    setup, step, _ = cache.timed(lambda: _time_classifier(config, shape, k), "classifier", c.model_dump(mode="json"),
                                 shape, k, runtime)
    times = [ModelTime(f"classifier {c.model}", len(config.groups) * seeds, steps, setup, step,
                       advice="classifier.epochs or the classifier's width")]
    for gan in distinct_gans(config):
        step_batch, epochs = gan_schedule(gan, len(train))
        batch = step_batch * gan.d_steps
        what = f"GAN {gan.model} ({gan.network})"

        def time_gan():
            data = gan_dataset(_random_images(batch, shape), np.arange(batch) % k, batch, 0).repeat()
            return _time_fit(lambda: _built(what, "gan", shape, lambda: build_gan(gan, shape, k, 0)), data)

        # GAN models on one network differ in their losses and discriminator heads only: one timing serves
        # them all (dagan_lowdata's GAN, SGAN and DAGAN on one DCGAN pair: steps within 1.5x of each other).
        per_step = {key: value for key, value in gan.key_dump().items() if key not in NOT_PER_STEP + ("model",)}
        setup, step, timed_as = cache.timed(time_gan, "gan", per_step, shape, k, batch, runtime, name=what)
        built = repr((what, per_step, shape, k))
        if timed_as != what and built not in cache.built:  # the model timed fits the images; does this one?
            _built(what, "gan", shape, lambda: build_gan(gan, shape, k, 0))
            cache.built.add(built)
        times.append(ModelTime(what, seeds, epochs * (len(train) // batch) * seeds, setup, step,
                               advice="gan.epochs/gan.kimg or the network's widths (gan.base_filters, gan.d_filters)",
                               timed_as=timed_as if timed_as != what else ""))
    for cfg in used_cyclegans(config):
        a, b = domain_classes(cfg.name, cfg.domain_a, cfg.domain_b, train.class_names)
        counts = train.counts()
        n_a, n_b = int(counts[a].sum()), int(counts[b].sum())
        batch = max(1, min(cfg.batch_size, n_a, n_b))

        def time_cyclegan():
            images = _random_images(batch, shape)
            data = prefetched(tf.data.Dataset.zip((domain_dataset(images, batch, 0), domain_dataset(images, batch, 1))))
            return _time_fit(lambda: _built(f"CycleGAN {cfg.name}", f"cyclegans.{cfg.name}", shape,
                                            lambda: build_cyclegan(cfg, shape, 0)), data)

        # CycleGANs of the same networks between other classes take steps of the same time.
        per_step = {key: value for key, value in cfg.model_dump(mode="json").items() if key not in CYCLEGAN_NOT_PER_STEP}
        what = f"CycleGAN {cfg.name}"
        setup, step, timed_as = cache.timed(time_cyclegan, "cyclegan", per_step, shape, batch, runtime, name=what)
        times.append(ModelTime(what, seeds, cfg.epochs * math.ceil(max(n_a, n_b) / batch) * seeds,
                               setup, step, advice=f"cyclegans.{cfg.name}.epochs or its filters",
                               timed_as=timed_as if timed_as != what else ""))
    return times


def run_model_seconds(config, splits, times=None, trained=None):
    """Per classifier run of `config`, in run order (group by group, each with every seed): the
    estimated seconds of the GANs and CycleGANs it trains before its classifier (one per seed, trained
    by the first run that uses it; 0 for the rest). What the console's time left adds for the runs
    still to come (`Progress.expect_models`).

    Args:
        config: the run's (or sweep point's) `ExperimentConfig`.
        splits: its `Splits`, to time the models on as `--dry-run` does (unless `times` is given).
        times: `estimate_times(config, splits)`, when already known.
        trained: `trained(group, seed)` -> whether the models that run uses are trained already (an
            earlier command's): they count 0.

    Returns:
        [seconds] per run; nothing is timed when no run has a model to train ([] without GAN or
        CycleGAN groups).
    """
    gans, cyclegans = distinct_gans(config), used_cyclegans(config)
    if not gans and not cyclegans:
        return []
    seen, runs = set(), []  # runs: the (model, seed) each run trains first
    for group in config.groups:
        models = ([_gan_key(group.gan)] if group.type == "gan" else []) + [
            f"cyclegan:{name}" for name in sorted({t.model for t in getattr(group, "translations", [])})]
        for seed in config.seeds:
            new = {(model, seed) for model in models} - seen
            seen |= new
            runs.append(set() if trained is not None and trained(group, seed) else new)
    if not any(runs):
        return [0.0] * len(runs)
    times = estimate_times(config, splits) if times is None else times
    per_model = {_gan_key(gan): t.seconds_per_run for gan, t in zip(gans, times[1:1 + len(gans)])}
    per_model.update({f"cyclegan:{cfg.name}": t.seconds_per_run for cfg, t in zip(cyclegans, times[1 + len(gans):])})
    return [sum(per_model[model] for model, _ in new) for new in runs]


def describe_times(times):
    """The lines `--dry-run` prints: each model's time, flags for models over an hour, and the total."""
    lines = ["time on this machine (a few timed steps of each model; not counted: GAN metrics, gan.select, "
             "synthesis; classifier runs may stop early):"]
    for t in times:
        lines.append(f"  {t.what:32s} {t.runs:3d} runs x ({t.setup_seconds:.1f} s set-up + "
                     f"{t.steps // t.runs} steps x {1000 * t.step_seconds:.0f} ms) = {duration(t.seconds)}"
                     + (f"  (steps timed on {t.timed_as}: same network)" if t.timed_as else ""))
        if t.seconds_per_run > LONG_RUN_SECONDS:
            lines.append(f"  WARNING: one run of {t.what} takes about {duration(t.seconds_per_run)} here; "
                         f"lower {t.advice}, or run on a GPU")
    lines.append(f"  total about {duration(sum(t.seconds for t in times))}")
    return lines
