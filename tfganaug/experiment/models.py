"""The GANs and CycleGANs of one run, trained on first use into `<run>/gans/` (see `TrainedModels`)."""

import math

import numpy as np
import tensorflow as tf

from tfganaug.data.pipeline import domain_dataset, gan_dataset, gan_steps, prefetched
from tfganaug.data.pixels import to_signed, to_uint8
from tfganaug.errors import ConfigError
from tfganaug.distribute import call_in_batches, num_replicas
from tfganaug.evaluation.gan_evaluation import real_classifier, validation_quality
from tfganaug.experiment.builders import build_from_spec, gan_schedule
from tfganaug.layout import FEATURES_DIR, MODELS_DIR, WEIGHTS_FILE
from tfganaug.synthesis.translation import domain_classes
from tfganaug.training.callbacks import ProgressLines
from tfganaug.training.gan_fit import train_gan
from tfganaug.training.grids import TranslationGrids
from tfganaug.training.providers import TrainedModels

GRID_IMAGES = 8  # images of each domain in a CycleGAN's translation grids


class RunModels:
    """The trained generators a run's groups ask for, each trained once per (settings, data, seed).

    Args:
        config: the run's `ExperimentConfig`.
        run_dir: the run folder.
        data: the run's `RunData` (`gan.select` measures a GAN on its seed's validation split).
        log: where progress lines go.
        verbose: Keras `fit` verbosity of GAN training.
    """

    def __init__(self, config, run_dir, data=None, log=print, verbose=2):
        self.store = TrainedModels(run_dir / MODELS_DIR, config.data.key_dump(), build_from_spec, log)
        self.cyclegans = {c.name: c for c in config.cyclegans}
        self.verbose, self.jit_compile = verbose, config.runtime.jit_compile
        # Each worker would decide by its own clock and resume from its own epoch: workers back up every epoch.
        multi_worker = config.runtime.distribute == "multi_worker"
        self.backup_seconds = 0 if multi_worker else config.runtime.backup_seconds
        self.data, self.features = data, run_dir / FEATURES_DIR
        self.log = log

    def _selection(self, gan, seed):
        """`train_gan`'s `select` argument for `gan.select` (None when it is not set)."""
        if gan.select is None:
            return None

        splits, recipe = self.data.for_seed(seed)

        def measure(model):
            quality = validation_quality(model, splits=splits, recipe=recipe, cache_dir=self.features,
                                         seed=seed, log=self.log)
            self.log("  validation quality: " + ", ".join(f"{k} {v:.4g}" for k, v in quality.items()
                                                         if not k.startswith("n_")))
            return quality

        return {"measure": measure, "metric": gan.select.metric, "every": gan.select.every}

    def _progress_lines(self, what):
        """A line a minute while `what` trains, unless Keras's live bar shows its progress (verbose 1)."""
        return () if self.verbose == 1 else (ProgressLines(what, self.log),)

    @staticmethod
    def _gan_settings(gan):
        # sample_every changes what is logged, not what is trained.
        return {k: v for k, v in gan.key_dump().items() if k != "sample_every"}

    def gan_folder_name(self, gan, seed):
        """The name of the folder under `gans/` that holds the GAN `gan(gan, train, seed)` trains."""
        return self.store.folder_name(gan.model, self._gan_settings(gan), seed)

    def trained(self, group, seed):
        """Whether every model `group` uses with `seed` is trained already (its final weights are here)."""
        folders = [self.gan_folder_name(group.gan, seed)] if group.type == "gan" else []
        folders += [self.store.folder_name(f"cyclegan-{name}", self._cyclegan_settings(self.cyclegans[name]), seed)
                    for name in sorted({t.model for t in getattr(group, "translations", [])})]
        return all((self.store.folder / folder / WEIGHTS_FILE).exists() for folder in folders)

    @staticmethod
    def _cyclegan_settings(cfg):
        return cfg.model_dump(mode="json", exclude={"sample_every"})

    def gan(self, gan, train, seed):
        """The GAN of `GANTraining` settings `gan`, trained on the `ImageSet` `train` with `seed`."""
        spec = {"gan": gan.model_dump(mode="json"), "image_shape": list(train.image_shape),
                "num_classes": train.num_classes, "class_names": list(train.class_names), "seed": seed}

        step_batch, epochs = gan_schedule(gan, len(train), num_replicas())

        def fit(model, folder):
            batch = step_batch * gan.d_steps
            data = lambda first_epoch: gan_dataset(train.images, train.labels, batch, seed, first_epoch)  # noqa: E731
            train_gan(model, data, epochs=epochs, folder=folder, spec=spec, class_names=train.class_names, seed=seed,
                      sample_every=gan.sample_every, verbose=self.verbose, jit_compile=self.jit_compile,
                      select=self._selection(gan, seed), backup_seconds=self.backup_seconds,
                      steps_per_epoch=gan_steps(len(train), batch),
                      extra_callbacks=self._progress_lines(f"GAN {gan.model} (seed {seed})"))

        return self.store.get(gan.model, self._gan_settings(gan), seed, spec, fit, f"GAN {gan.model}",
                              f" ({gan.network}, {epochs} epochs) on {len(train)} images")

    def real_classifier_scores(self, seed):
        """images in [-1, 1] -> class probabilities of the classifier trained on seed's real training split
        (the run's feature classifier, trained once and cached in `features/`)."""
        splits, recipe = self.data.for_seed(seed)
        classifier = real_classifier(recipe, splits, self.features, self.log)
        return lambda images: call_in_batches(classifier, to_uint8(images))

    def ensure(self, group, train, seed):
        """Load (or train, when their files are gone or unreadable) the models `group` uses with `seed`:
        a rerun whose classifier runs are all done still leaves every model of the run usable."""
        if group.type == "gan":
            self.gan(group.gan, train, seed)
        for name in sorted({t.model for t in getattr(group, "translations", [])}):
            self.cyclegan(name, train, seed)

    def cyclegan(self, name, train, seed):
        """(the trained CycleGAN `name`, its domain A classes, its domain B classes) for `train` and `seed`."""
        cfg = self.cyclegans[name]
        a_classes, b_classes = domain_classes(name, cfg.domain_a, cfg.domain_b, train.class_names)
        images_a = train.images[np.isin(train.labels, a_classes)]
        images_b = train.images[np.isin(train.labels, b_classes)]
        if not len(images_a) or not len(images_b):
            raise ConfigError(f"cyclegans.{name}: domain {'a' if not len(images_a) else 'b'} has no training images")
        batch = min(cfg.batch_size, len(images_a), len(images_b))
        steps = math.ceil(max(len(images_a), len(images_b)) / batch)
        spec = {"cyclegan": cfg.model_dump(mode="json"), "image_shape": list(train.image_shape), "seed": seed,
                "class_names": list(train.class_names), "steps_per_epoch": steps,
                "domain_a": a_classes, "domain_b": b_classes}

        def fit(model, folder):
            def data(first_epoch):  # both domains from the batch an uninterrupted run is at
                return prefetched(tf.data.Dataset.zip((domain_dataset(images_a, batch, seed, first_epoch * steps),
                                                       domain_dataset(images_b, batch, seed + 1, first_epoch * steps))))

            shown = min(GRID_IMAGES, len(images_a), len(images_b))
            grids = TranslationGrids(folder / "samples", to_signed(images_a[:shown]), to_signed(images_b[:shown]),
                                     cfg.sample_every, cfg.epochs)
            train_gan(model, data, epochs=cfg.epochs, folder=folder, spec=spec, seed=seed,
                      verbose=self.verbose, steps_per_epoch=steps, grids=grids, jit_compile=self.jit_compile,
                      backup_seconds=self.backup_seconds,
                      extra_callbacks=self._progress_lines(f"CycleGAN {name} (seed {seed})"))

        model = self.store.get(f"cyclegan-{name}", self._cyclegan_settings(cfg), seed, spec, fit, f"CycleGAN {name}",
                               f" ({len(images_a)} A vs {len(images_b)} B images, {cfg.epochs} epochs)")
        return model, a_classes, b_classes
