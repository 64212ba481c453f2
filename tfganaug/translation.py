"""Class-to-class translation with CycleGANs: build, train (once per model, data and seed), plan, translate.

A CycleGAN config names two domains as sets of classes; a translation
`{model, from, to, count}` turns training images of class `from` (in one
domain) into class `to` (in the other) and labels them `to`.
"""

import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfganaug.config import CycleGANConfig
from tfganaug.data.pipeline import prefetched
from tfganaug.data.sampling import resolve_class
from tfganaug.errors import ConfigError
from tfganaug.gan_training import WEIGHTS_FILE, backed_up_epochs, load_trained_gan, settings_key, train_gan
from tfganaug.gans.cyclegan import CycleGAN, HoldThenLinearDecay
from tfganaug.labeling import to_uint8
from tfganaug.networks.cyclegan_networks import (build_patchgan_discriminator, build_resnet_generator,
                                                 build_unet_generator)
from tfganaug.plots import save_translation_grid

GRID_IMAGES = 8


def build_cyclegan(cfg, image_shape, seed, steps_per_epoch=1):
    """A compiled, untrained `CycleGAN` as the `CycleGANConfig` describes (schedule in optimizer steps)."""
    def generator(name):
        if cfg.generator == "unet":
            return build_unet_generator(image_shape, filters=cfg.filters, depth=cfg.unet_depth, name=name)
        return build_resnet_generator(image_shape, filters=cfg.filters, downsamplings=cfg.downsamplings,
                                      residual_blocks=cfg.residual_blocks, name=name)

    def discriminator(name):
        return build_patchgan_discriminator(image_shape, filters=cfg.d_filters, layers=cfg.d_layers, name=name)

    model = CycleGAN(generator("generator_ab"), generator("generator_ba"), discriminator("discriminator_a"),
                     discriminator("discriminator_b"), cycle_weight=cfg.cycle_weight,
                     identity_weight=cfg.identity_weight, pool_size=cfg.pool_size, seed=seed)

    def optimizer():
        schedule = HoldThenLinearDecay(cfg.learning_rate, (cfg.epochs - cfg.decay_epochs) * steps_per_epoch,
                                       cfg.decay_epochs * steps_per_epoch)
        return keras.optimizers.Adam(schedule, beta_1=cfg.beta_1)
    model.compile(g_optimizer=optimizer(), d_optimizer=optimizer())
    return model


def build_cyclegan_from_spec(spec):
    """An untrained compiled CycleGAN from the `gan.json` of its folder."""
    return build_cyclegan(CycleGANConfig(**spec["cyclegan"]), tuple(spec["image_shape"]), spec["seed"],
                          spec["steps_per_epoch"])


def domain_classes(cfg, class_names):
    """(class indices of domain A, of domain B), names resolved against the data's classes."""
    where = f"cyclegans.{cfg.name}"
    return ([resolve_class(c, class_names, f"{where}.domain_a") for c in cfg.domain_a],
            [resolve_class(c, class_names, f"{where}.domain_b") for c in cfg.domain_b])


class TranslationGrids(keras.callbacks.Callback):
    """Every `every` epochs, a PNG of fixed images of each domain: input | translated | cycled back."""

    def __init__(self, folder, images_a, images_b, every, epochs):
        super().__init__()
        self.folder, self.images_a, self.images_b = Path(folder), images_a, images_b
        self.every, self.epochs = every, epochs

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done == self.epochs or (self.every and done % self.every == 0):
            rows = []
            for images, forward, back in ((self.images_a, "a_to_b", "b_to_a"), (self.images_b, "b_to_a", "a_to_b")):
                translated = self.model.translate(images, forward)
                rows.append((images, translated, self.model.translate(translated, back)))
            save_translation_grid(rows, ["A", "B"], self.folder / f"epoch_{done:04d}.png",
                                  title=f"CycleGAN, epoch {done}: input | translated | cycled back")


def _domain_dataset(images, batch_size, seed):
    ds = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds.repeat().batch(batch_size, drop_remainder=True).map(lambda x: tf.cast(x, tf.float32) / 127.5 - 1.0)


class TranslationProvider:
    """Trains each CycleGAN (settings x data x seed) once, into `folder/cyclegan-<name>-<key>/`; reruns load it."""

    def __init__(self, folder, data_settings, cyclegans, log=print, verbose=2, jit_compile="auto"):
        self.folder, self.data_settings, self.log, self.verbose = Path(folder), data_settings, log, verbose
        self.jit_compile = jit_compile
        self.configs = {c.name: c for c in cyclegans}
        self.models = {}

    def get(self, name, train, seed):
        cfg = self.configs[name]
        settings = cfg.model_dump(mode="json", exclude={"sample_every"})
        key = settings_key(self.data_settings, settings, seed)
        if key in self.models:
            return self.models[key]
        a_classes, b_classes = domain_classes(cfg, train.class_names)
        images_a = train.images[np.isin(train.labels, a_classes)]
        images_b = train.images[np.isin(train.labels, b_classes)]
        if not len(images_a) or not len(images_b):
            raise ConfigError(f"cyclegans.{name}: domain {'a' if not len(images_a) else 'b'} has no training images")
        batch = min(cfg.batch_size, len(images_a), len(images_b))
        steps = math.ceil(max(len(images_a), len(images_b)) / batch)
        spec = {"cyclegan": cfg.model_dump(mode="json"), "image_shape": list(train.image_shape), "seed": seed,
                "class_names": list(train.class_names), "steps_per_epoch": steps,
                "domain_a": a_classes, "domain_b": b_classes}
        folder = self.folder / f"cyclegan-{name}-{key}"
        keras.utils.set_random_seed(seed)
        if (folder / WEIGHTS_FILE).exists():
            model, _ = load_trained_gan(folder, build_cyclegan_from_spec)
            self.log(f"loaded CycleGAN {name} (seed {seed}) from {folder}")
        else:
            model = build_cyclegan_from_spec(spec)
            started = time.time()
            self.log(f"training CycleGAN {name} ({len(images_a)} A vs {len(images_b)} B images, "
                     f"{cfg.epochs} epochs, seed {seed}) into {folder}")
            if backed_up_epochs(folder):
                self.log(f"resuming CycleGAN {name} from its backup after epoch {backed_up_epochs(folder)}")
            data = tf.data.Dataset.zip((_domain_dataset(images_a, batch, seed), _domain_dataset(images_b, batch, seed + 1)))
            shown = min(GRID_IMAGES, len(images_a), len(images_b))
            fixed = lambda x: x[:shown].astype(np.float32) / 127.5 - 1.0  # noqa: E731
            grids = TranslationGrids(folder / "samples", fixed(images_a), fixed(images_b), cfg.sample_every, cfg.epochs)
            train_gan(model, prefetched(data), epochs=cfg.epochs, folder=folder, spec=spec,
                      seed=seed, verbose=self.verbose, steps_per_epoch=steps, grids=grids, jit_compile=self.jit_compile)
            self.log(f"trained CycleGAN {name} in {time.time() - started:.0f}s")
        self.models[key] = (model, a_classes, b_classes)
        return self.models[key]


def translation_plan(translations, train_counts, class_names):
    """[(model, from class, to class, count)] with every `fill` count resolved.

    A `fill` entry's count is the target class's deficit to the largest class,
    after the fixed-count entries into it, shared evenly among the `fill` entries
    with that target (the first get the remainder).
    """
    rows = [(t.model, resolve_class(t.from_, class_names, "translations.from"),
             resolve_class(t.to, class_names, "translations.to"), t.count) for t in translations]
    counts = np.asarray(train_counts)
    plan = []
    for target in dict.fromkeys(r[2] for r in rows):
        fixed = sum(r[3] for r in rows if r[2] == target and r[3] != "fill")
        fills = [r for r in rows if r[2] == target and r[3] == "fill"]
        missing = max(0, int(counts.max() - counts[target] - fixed))
        shares = [missing // len(fills) + (i < missing % len(fills)) for i in range(len(fills))] if fills else []
        share = iter(shares)
        plan += [(m, f, t, next(share) if c == "fill" else c) for m, f, t, c in rows if t == target]
    return [row for row in plan if row[3] > 0]


def translate(provider, plan, train, seed):
    """uint8 translated images and their (target) labels for a `translation_plan`."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for model_name, source, target, count in plan:
        model, a_classes, b_classes = provider.get(model_name, train, seed)
        if source in a_classes and target in b_classes:
            direction = "a_to_b"
        elif source in b_classes and target in a_classes:
            direction = "b_to_a"
        else:
            names = train.class_names
            raise ConfigError(f"translation {names[source]} -> {names[target]} with '{model_name}': the classes "
                              f"must sit in opposite domains (A: {[names[c] for c in a_classes]}, "
                              f"B: {[names[c] for c in b_classes]})")
        pool = np.flatnonzero(train.labels == source)
        chosen = rng.choice(pool, count, replace=count > len(pool))
        images.append(to_uint8(model.translate(train.images[chosen].astype(np.float32) / 127.5 - 1.0, direction)))
        labels.append(np.full(count, target))
    if not images:
        return np.zeros((0,) + train.image_shape, np.uint8), np.zeros(0, int)
    return np.concatenate(images), np.concatenate(labels)
