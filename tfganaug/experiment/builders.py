"""Config sections -> objects: data splits, classifiers, GANs and CycleGANs.

With `tfganaug.experiment.models`, `planning` and `runner`, the only code that
reads the validated config (`tfganaug.cli` reads it too, to pick the command's
run folder and sweep points). Everything these functions build takes plain
keyword arguments and never sees the config.
"""

import math

import keras

from tfganaug.config import CycleGANConfig, GANTraining
from tfganaug.data import fashion_mnist, tfds_source
from tfganaug.data.animal_mnist import load_animal_mnist
from tfganaug.data.fashion_mnist import load_fashion_mnist
from tfganaug.data.folder import load_folder
from tfganaug.data.npz import load_npz
from tfganaug.data.sampling import SAME, split_pool
from tfganaug.data.tfds_source import load_tfds
from tfganaug.errors import ConfigError, DataError
from tfganaug.evaluation.gan_evaluation import ClassifierRecipe
from tfganaug.gans import GAN_MODELS
from tfganaug.gans.cyclegan import CycleGAN, HoldThenLinearDecay
from tfganaug.networks import GAN_NETWORKS
from tfganaug.networks.classifiers import CLASSIFIER_BUILDERS
from tfganaug.networks.feature_trunks import build_trunk
from tfganaug.networks.projected import build_feature_discriminator
from tfganaug.networks.cyclegan_networks import (
    build_patchgan_discriminator,
    build_resnet_generator,
    build_unet_generator,
)
from tfganaug.training.classifier import fit_classifier
from tfganaug.training.gan_folder import model_kind, settings_key
from tfganaug.training.optimizers import FusedAdam

# ---------------------------------------------------------------- data


def _stream_cap(data):
    """Images per class a streaming (tfds) source must keep: enough for train + val + extra, or None for all."""
    spc = data.samples_per_class
    if not isinstance(spc, int):
        return None
    parts = [spc] + [spc if v == SAME else v for v in (data.val_per_class, data.extra_per_class)]
    return sum(parts)


def pending_download(data):
    """What `load_source` will fetch from the network before it can read `data` ("tfds:cassava (its size)"),
    or None: nothing, because `data.download` is false or the files are here already."""
    if not data.download:
        return None
    if data.source == "fashion_mnist":
        return None if fashion_mnist.find_dir() else "fashion_mnist (through keras.datasets)"
    if data.source.startswith("tfds:"):
        return tfds_source.pending_download(data.source.split(":", 1)[1], data.data_dir)
    return None


def load_source(data):
    """The `SourceData` named by a `DataConfig`, fetched from the network first only with `data.download`."""
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
        max_per_class=_stream_cap(data), max_test_per_class=data.test_per_class, seed=data.seed)


def make_splits(data):
    """Load the source and draw train / extra / val / test as the `DataConfig` asks."""
    source = load_source(data)
    if source.pool.num_classes < 2:
        raise DataError(f"data.source {data.source}: one class ({source.pool.class_names[0]!r}); "
                        "a classifier needs at least two")
    return split_pool(source.pool, source.test, samples_per_class=data.samples_per_class, rare=data.rare,
                      imbalance_ratio=data.imbalance_ratio,
                      val_per_class=data.val_per_class, extra_per_class=data.extra_per_class,
                      test_per_class=data.test_per_class, seed=data.seed)


class RunData:
    """The splits and classifier recipe of each run seed: one split for every seed, or one per seed
    with `data.resplit_per_seed` (each drawn once).

    Args:
        config: the run's `ExperimentConfig`.
    """

    def __init__(self, config):
        self.config, self._splits = config, {}

    def splits(self, seed=None):
        """The `Splits` of run seed `seed` (None: the config's own split, `data.seed`)."""
        data = self.config.data if seed is None else self.config.data.for_seed(seed)
        if data.seed not in self._splits:
            self._splits[data.seed] = make_splits(data)
        return self._splits[data.seed]

    def for_seed(self, seed):
        """(Splits, ClassifierRecipe) of run seed `seed`: what a GAN of that seed is measured with."""
        return self.splits(seed), classifier_recipe(self.config, seed)


# ---------------------------------------------------------------- classifiers


def build_classifier(classifier, input_shape, num_outputs):
    """A fresh classifier model as the `ClassifierConfig` describes."""
    return CLASSIFIER_BUILDERS[classifier.model](input_shape, num_outputs, **classifier.builder_options())


def classifier_recipe(config, seed=None):
    """The run's `ClassifierRecipe`: how every classifier of the run is built and trained (`seed`: the
    run seed whose split its `data_key` names, which matters with `data.resplit_per_seed`).

    Its `fit` takes further `fit_classifier` options (class weights, augmentation, logging) and
    `epochs` (default: `classifier.epochs`).
    """
    c = config.classifier

    def fit(model, images, targets, val, seed, verbose=0, epochs=None, **options):
        return fit_classifier(model, images, targets, val=val, epochs=epochs or c.epochs, batch_size=c.batch_size,
                              learning_rate=c.learning_rate, seed=seed, patience=c.patience, verbose=verbose,
                              jit_compile=config.runtime.jit_compile, **options)

    data = (config.data if seed is None else config.data.for_seed(seed)).key_dump()
    return ClassifierRecipe(build=lambda shape, outputs: build_classifier(c, shape, outputs), fit=fit,
                            key=settings_key(data, c.model_dump(mode="json")), data_key=settings_key(data),
                            name=c.model)


# ---------------------------------------------------------------- GANs

# The DAGAN study's discriminator starts with Gaussian noise on its input.
DEFAULT_INSTANCE_NOISE = {"dcgan": 0.05}


def build_feature_branch(features, image_shape, num_outputs, num_classes, seed, trunk_weights=True):
    """The discriminator's feature branch as the `FeaturesConfig` describes: the frozen trunk with its
    weights loaded (unless not `trunk_weights`), projections drawn from `seed`, heads with `num_outputs`
    logits (seeing the label when `num_classes` > 0)."""
    trunk = build_trunk(features.trunk, image_shape, depths=features.depths, input_size=features.input_size,
                        weights=str(features.weights) if trunk_weights else None)
    return build_feature_discriminator(trunk, num_outputs, num_classes, channels=features.channels,
                                       head_filters=features.head_filters, seed=seed)


def build_gan(gan, image_shape, num_classes, seed, trunk_weights=True):
    """A compiled, untrained GAN model as the `GANTraining` config describes; without `trunk_weights`, a
    feature branch's trunk is left at random (for a checkpoint that holds its weights)."""
    cls = GAN_MODELS[gan.model]
    build_g, build_d = GAN_NETWORKS[gan.network]
    generator = build_g(gan.latent_dim, image_shape, num_classes if cls.conditional else 0, **gan.generator_options())
    discriminator = build_d(image_shape, cls.discriminator_outputs(num_classes),
                            num_classes if cls.discriminator_sees_label else 0, **gan.discriminator_options())
    instance_noise = DEFAULT_INSTANCE_NOISE.get(gan.network, 0.0) if gan.instance_noise is None else gan.instance_noise
    features = {}
    if gan.features is not None:
        branch = build_feature_branch(gan.features, image_shape, cls.discriminator_outputs(num_classes),
                                      num_classes if cls.discriminator_sees_label else 0, seed, trunk_weights)
        features = {"feature_discriminator": branch, "feature_weight": gan.features.weight,
                    "feature_start_kimg": gan.features.start_kimg}
    model = cls(generator, discriminator, latent_dim=gan.latent_dim, num_classes=num_classes, loss=gan.loss,
                diffaugment=tuple(gan.diffaugment), seed=seed, instance_noise=instance_noise, d_steps=gan.d_steps,
                lecam=gan.lecam, ema_decay=gan.ema.decay if gan.ema else None,
                ema_start=gan.ema.start if gan.ema else 0, ada_target=gan.ada_target, **features)
    # Keras's Adam update as one fused kernel per variable: the MLP pair of the labeling study spent more of
    # its step in Adam's element-wise ops than in its matmuls (docs/performance.md).
    model.compile(g_optimizer=FusedAdam(gan.g_learning_rate, gan.beta_1, gan.beta_2),
                  d_optimizer=FusedAdam(gan.d_learning_rate, gan.beta_1, gan.beta_2))
    return model


def gan_schedule(gan, num_images, replicas=1):
    """(images per discriminator step, epochs) of a GAN trained on `num_images` images: the
    configured batch (smaller for tiny data sets), and `gan.epochs`, or as many epochs as
    `gan.kimg` thousand real images take. A batch of the GAN's dataset holds `d_steps` steps' images.
    With `d_steps` > 1 on several `replicas`, a batch made smaller stays a multiple of their number
    (each replica splits its share into `d_steps` parts; see `check_replica_batches`)."""
    step_batch = min(gan.batch_size, num_images // gan.d_steps)
    if gan.d_steps > 1:
        step_batch -= step_batch % replicas
    if step_batch < 1:
        raise ConfigError(f"gan.d_steps: {gan.d_steps} discriminator steps need at least {gan.d_steps} training "
                          f"images, the training set has {num_images}")
    if gan.kimg is None:
        return step_batch, gan.epochs
    shown_per_epoch = num_images // (step_batch * gan.d_steps) * step_batch * gan.d_steps
    return step_batch, max(1, math.ceil(gan.kimg * 1000 / shown_per_epoch))


def check_replica_batches(config, replicas):
    """Refuse, before anything trains, a GAN group whose `d_steps` > 1 cannot split its batch on `replicas`
    replicas: each replica gets 1/replicas of the dataset's batch (`d_steps` x `batch_size` images) and
    splits it into `d_steps` discriminator steps, so `batch_size` must divide by the replicas."""
    if replicas <= 1:
        return
    for i, group in enumerate(config.groups):
        gan = group.gan if group.type == "gan" else None
        if gan is None or gan.d_steps == 1 or gan.batch_size % replicas == 0:
            continue
        below = gan.batch_size - gan.batch_size % replicas
        fits = " or ".join(str(b) for b in (below, below + replicas) if b > 0)
        raise ConfigError(
            f"groups.{i}.gan (group '{group.label}'): gan.d_steps: {gan.d_steps} with gan.batch_size: {gan.batch_size} "
            f"on {replicas} replicas (runtime.distribute: {config.runtime.distribute}): every replica splits its "
            f"share of the batch into {gan.d_steps} discriminator steps, so gan.batch_size must divide by {replicas}; "
            f"set groups.{i}.gan.batch_size: {fits}, or gan.d_steps: 1")


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


def build_from_spec(spec, pretrained=True):
    """An untrained compiled GAN or CycleGAN from the `gan.json` of its folder. `pretrained=False` (for
    loading a checkpoint, which holds them) skips reading a feature branch's trunk weights: a finished GAN
    stays readable when its `features.weights` file has moved or the `features` extra is gone."""
    if model_kind(spec) == "cyclegan":
        return build_cyclegan(CycleGANConfig(**spec["cyclegan"]), tuple(spec["image_shape"]), spec["seed"],
                              spec["steps_per_epoch"])
    gan = spec["gan"]
    if not pretrained and gan.get("features"):
        gan = {**gan, "features": {**gan["features"], "weights": "package"}}  # not read: no file to check
    return build_gan(GANTraining(**gan), tuple(spec["image_shape"]), spec["num_classes"], spec["seed"],
                     trunk_weights=pretrained)
