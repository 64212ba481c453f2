"""`TrainedModels`: each distinct GAN or CycleGAN of a run trained once, then loaded or resumed."""

import time

import keras

from tfganaug.files import inside, set_aside
from tfganaug.layout import LOCKS_DIR, WEIGHTS_FILE
from tfganaug.sharing.locks import FileLock
from tfganaug.training.gan_fit import backed_up_epochs
from tfganaug.training.gan_folder import UnreadableModel, load_trained_gan, settings_key


class TrainedModels:
    """Trains each distinct model (its settings x the data x the seed) once, into `folder/<prefix>-<key>/`.

    Groups that differ only in what they do with the images share one trained
    model (as in the Fashion-MNIST study); a rerun loads the finished model, or
    resumes one that was cut short from its last backed-up epoch.

    Args:
        folder: the run's models folder (`<run>/gans`).
        data_settings: JSON-able settings of the data; part of every key.
        build: `build(spec, pretrained=True)` -> an untrained compiled model (GAN or CycleGAN) as the spec
            describes (`pretrained=False` when a checkpoint will supply frozen pretrained weights).
        log: where progress lines go.
    """

    def __init__(self, folder, data_settings, build, log=print):
        self.folder, self.data_settings, self.build, self.log = folder, data_settings, build, log
        self.models = {}

    def folder_name(self, prefix, settings, seed):
        """The folder name (under `folder`) of the model for (`settings`, the data, `seed`)."""
        return f"{prefix}-{settings_key(self.data_settings, settings, seed)}"

    def get(self, prefix, settings, seed, spec, fit, name, details=""):
        """The trained model for (`settings`, the data, `seed`).

        Args:
            prefix: the folder name's start ("acgan", "cyclegan-<name>").
            settings: JSON-able settings that determine the model (keys its folder).
            seed: the run seed.
            spec: what `gan.json` records; `build(spec)` makes the untrained model.
            fit: `fit(model, folder)` trains it there (resuming from `folder`'s backup).
            name: how the log names it ("GAN acgan", "CycleGAN tshirt-shirt").
            details: what the training line adds (" (mlp, 20 epochs) on 1840 images").
        """
        key = settings_key(self.data_settings, settings, seed)
        if key in self.models:
            return self.models[key]
        folder = inside(self.folder, self.folder_name(prefix, settings, seed))
        # One process trains a model; another that needs it waits, then loads it (never deleted: see locks).
        with FileLock(self.folder.parent / LOCKS_DIR / f"{folder.name}.lock"):
            model = self._load_or_train(folder, seed, spec, fit, name, details)
        self.models[key] = model
        return model

    def _load_or_train(self, folder, seed, spec, fit, name, details):
        keras.utils.set_random_seed(seed)
        model = None
        if (folder / WEIGHTS_FILE).exists():
            try:
                model, _ = load_trained_gan(folder, self.build)
                self.log(f"loaded {name} (seed {seed}) from {folder}")
            except UnreadableModel as exc:
                set_aside(exc.path, exc.reason, self.log, f"training {name} again")
        if model is None:
            model = self.build(spec)
            started = time.time()
            self.log(f"training {name}{details}, seed {seed}, into {folder}")
            resumed = backed_up_epochs(folder)
            if resumed:
                self.log(f"resuming {name} from its backup after epoch {resumed}")
            fit(model, folder)
            self.log(f"trained {name} in {time.time() - started:.0f}s")
        return model
