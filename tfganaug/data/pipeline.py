"""tf.data pipelines of in-memory images for classifier and GAN training and for evaluation."""

import math

import keras
import numpy as np
import tensorflow as tf

from tfganaug.data.pixels import tensor_to_signed

# Batches ready ahead of the training step: one being consumed, one in reserve.
PREFETCH_BATCHES = 2


def prefetched(ds):
    """`ds` prefetched, with tf.data's autotuning off.

    These pipelines slice, shuffle and cast arrays already in memory: there is
    nothing for autotuning to tune, and with it on, a CPU-bound `fit` step
    waits on tf.data every few steps (on 2 CPU cores a GAN step through `fit`
    ran at 0.8x a plain loop with autotuning, 1.0x without: `bench/train_step.py`).
    Map parallelism and the prefetch buffer are then fixed instead of tuned.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(PREFETCH_BATCHES).with_options(options)


# Epochs of an endless keyed dataset: as many as `Dataset.range` counts (a fit stops at its epochs).
_ENDLESS = 2**62


def epoch_order(n, seed, epoch):
    """The order of `n` examples in epoch `epoch` of a run with `seed`: a permutation drawn from (seed,
    epoch) alone (a stateless shuffle), so an epoch's order does not depend on the epochs before it.
    `epoch` may be a tensor; the result is an int64 tensor."""
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key)


def keyed_batches(n, batch_size, seed, first_epoch=0, drop_remainder=False):
    """Endless batches of example indices, epoch by epoch from `first_epoch`, each epoch in
    `epoch_order`: a run resumed at epoch e reads exactly what an uninterrupted run reads there
    (tf.data's reshuffle_each_iteration restarts its sequence in a new process). Fit it with
    `steps_per_epoch = keyed_steps(...)`."""
    return tf.data.Dataset.range(first_epoch, _ENDLESS).flat_map(
        lambda epoch: tf.data.Dataset.from_tensor_slices(epoch_order(n, seed, epoch)).batch(
            batch_size, drop_remainder=drop_remainder))


def keyed_steps(n, batch_size, drop_remainder=False):
    """Batches per epoch of `keyed_batches`."""
    return n // batch_size if drop_remainder else math.ceil(n / batch_size)


def one_hot(labels, num_outputs):
    """Float one-hot targets [N, num_outputs] for integer labels."""
    return np.eye(num_outputs, dtype=np.float32)[np.asarray(labels)]


def mixed_batch(mix, images, targets, sample_weight=None):
    """A batch mixed by `mix` (`keras.layers.MixUp` or `CutMix`): each image with a partner of the batch, and
    its target row and sample weight with the same partner's by the same share (a weight mixes as a label
    does: the mixed image stands for lambda of one image and 1 - lambda of the other).

    CutMix's share is taken from the pasted pixels: Keras gives the label weight of the box's real-valued
    area, while the mask it pastes covers whole pixels, which on a 28x28 image differs by up to a few
    percent; the CutMix paper's code sets the weight from the pasted pixels, as here.

    Returns:
        (float32 images, float32 targets) or, with `sample_weight`, (images, targets, weights).
    """
    transformation = mix.get_random_transformation(images, training=True)
    if "batch_masks" in transformation:
        pasted = tf.reduce_mean(tf.cast(transformation["batch_masks"], tf.float32), axis=[1, 2, 3])
        transformation = {**transformation, "mix_weight": 1.0 - pasted}
    images = tf.cast(mix.transform_images(images, transformation, training=True), tf.float32)
    targets = tf.cast(mix.transform_labels(tf.cast(targets, tf.float32), transformation, training=True), tf.float32)
    if sample_weight is None:
        return images, targets
    weights = mix.transform_labels(tf.cast(sample_weight, tf.float32)[:, None], transformation, training=True)
    return images, targets, tf.cast(weights[:, 0], tf.float32)


def classifier_dataset(images, targets, batch_size, *, shuffle_seed=None, augment=None, sample_weight=None,
                       mix=None):
    """Batches of (float32 images in 0-255, float32 targets): one pass in order, or with `shuffle_seed`
    endless epochs in `epoch_order` (fit with `steps_per_epoch = keyed_steps(len(images), batch_size)`).

    Images stay uint8 in memory and are cast per batch. Targets are rows of
    class probabilities (one-hot, or soft for LSRO), so every labeling
    strategy trains with the same categorical cross-entropy.

    Args:
        images: uint8 [N, H, W, C].
        targets: float32 [N, num_outputs].
        batch_size: examples per batch.
        shuffle_seed: epoch e in the order drawn from (shuffle_seed, e); None: one pass in order (evaluation).
        augment: a Keras layer applied to each batch with training=True.
        sample_weight: float32 [N] loss weights; with them the batches are (images, targets, weights).
        mix: MixUp or CutMix, applied after `augment` with `mixed_batch`, or None.
    """
    columns = (images, targets) if sample_weight is None else (images, targets, np.asarray(sample_weight, np.float32))
    if shuffle_seed is None:
        ds = tf.data.Dataset.from_tensor_slices(columns).batch(batch_size)
    else:
        columns = tuple(tf.constant(c) for c in columns)
        ds = keyed_batches(len(images), batch_size, shuffle_seed).map(
            lambda rows: tuple(tf.gather(c, rows) for c in columns))
    ds = ds.map(lambda x, *rest: (tf.cast(x, tf.float32), *rest))
    if augment is not None:
        # Sequential on purpose: Keras random layers advance a seed state on each call, and parallel
        # calls would take the draws in a different order on each run (seeded runs must repeat).
        ds = ds.map(lambda x, *rest: (augment(x, training=True), *rest))
    if mix is not None:  # sequential too, for the same reason
        ds = ds.map(lambda *batch: mixed_batch(mix, *batch))
    return prefetched(ds)


class FreshSynthesis(keras.utils.PyDataset):
    """Batches of the real images plus a synthetic set drawn anew for every epoch (`synthesize.fresh`).

    A Keras `PyDataset` read in order by one thread. The epoch is counted from the batches asked for,
    not from `on_epoch_end`: Keras makes (and tf.data starts prefetching) the next epoch's iterator
    before it calls `on_epoch_end`, so a hook-driven set would change at a timing-dependent batch.
    Counted here, a rerun with the same seed sees the same images in the same order. Batches
    asked for before training starts (Keras reads a few to learn their shapes) come from epoch 0.
    Batches are (float32 images in 0-255, targets[, weights]), as `classifier_dataset` gives.

    Args:
        images, targets: the real uint8 images and their target rows.
        draw: `draw(epoch)` -> (uint8 images, target rows, loss weights or None): that epoch's synthetic set.
        batch_size: examples per batch.
        seed: the order of epoch e's examples is drawn from (seed, e).
        epochs: the epochs of the fit (what Keras prefetches after the last one is not drawn anew).
        augment: a Keras layer applied to each batch with training=True, or None.
        mix: MixUp or CutMix, applied after `augment` with `mixed_batch`, or None.

    When `draw` gives weights, every real image weighs 1.
    """

    def __init__(self, images, targets, draw, batch_size, seed, epochs, augment=None, mix=None):
        super().__init__()  # workers=1, no multiprocessing: batches are asked for in order, by one thread
        self.real_images, self.real_targets, self.draw = images, targets, draw
        self.batch_size, self.seed, self.epochs, self.augment, self.mix = batch_size, seed, epochs, augment, mix
        self.epoch, self.training, self.finished_pass, self.fake_count = 0, False, False, 0
        self._load()
        self.size = len(self.order)  # every epoch has as many batches as the first (Keras counts them once)

    def _load(self):
        fake, fake_targets, fake_weights = self.draw(self.epoch)
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.epoch and len(fake) != self.fake_count:
            # A filter kept short on one epoch can change the synthetic set's size: its images (never the
            # real ones) are repeated or cut to the first set's count, every real image staying once.
            pick = np.resize(rng.permutation(len(fake)), self.fake_count) if len(fake) else np.zeros(0, int)
            fake, fake_targets = fake[pick], fake_targets[pick]
            fake_weights = None if fake_weights is None else fake_weights[pick]
        self.fake_count = len(fake)
        self.images = np.concatenate([self.real_images, fake])
        self.targets = np.concatenate([self.real_targets, fake_targets]).astype(np.float32)
        self.weights = None if fake_weights is None else np.concatenate(
            [np.ones(len(self.real_images), np.float32), fake_weights]).astype(np.float32)
        order = rng.permutation(len(self.images))
        # An epoch whose set is empty (nothing passed the filter) is short: it repeats real images to fill.
        self.order = np.resize(order, self.size) if self.epoch else order

    def __len__(self):
        return math.ceil(self.size / self.batch_size)

    def on_epoch_begin(self):
        self.training = True

    def __getitem__(self, index):
        if self.training and index == 0 and self.finished_pass:
            self.finished_pass = False
            if self.epoch + 1 < self.epochs:
                self.epoch += 1
                self._load()
        if self.training and index == len(self) - 1:
            self.finished_pass = True
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = tf.cast(self.images[rows], tf.float32)
        if self.augment is not None:
            x = self.augment(x, training=True)
        batch = (x, self.targets[rows]) if self.weights is None else (x, self.targets[rows], self.weights[rows])
        if self.mix is not None:
            batch = mixed_batch(self.mix, *batch)
        return tuple(np.asarray(part) for part in batch)


def gan_dataset(images, labels, batch_size, seed, first_epoch=0):
    """Endless batches of (float32 images in [-1, 1], int32 labels) for `GAN.fit`, epoch by epoch from
    `first_epoch`, each in `epoch_order(len(images), seed, epoch)`: fit with
    `steps_per_epoch = gan_steps(len(images), batch_size)`; a run resumed at an epoch trains on what an
    uninterrupted one would.

    Every batch is full (the remainder is dropped, a different one each epoch):
    under a strategy, replicas then get equal shares of each batch, and an
    example's noise does not depend on the number of replicas (see `StepRandom`).
    """
    images, labels = tf.constant(images), tf.constant(np.asarray(labels).astype(np.int32))
    ds = keyed_batches(len(images), min(batch_size, len(images)), seed, first_epoch, drop_remainder=True)
    ds = ds.map(lambda rows: (tensor_to_signed(tf.gather(images, rows)), tf.gather(labels, rows)))
    return prefetched(ds)


def gan_steps(n, batch_size):
    """Steps per epoch of `gan_dataset` on `n` images."""
    return keyed_steps(n, min(batch_size, n), drop_remainder=True)


def domain_dataset(images, batch_size, seed, first_batch=0):
    """Endless full batches of one CycleGAN domain's images, float32 in [-1, 1], from batch `first_batch`
    on: passes over the images in `epoch_order(len(images), seed, pass)`, so a resumed run starts at
    the batch an uninterrupted one would be at."""
    images = tf.constant(images)
    rows = tf.data.Dataset.range(_ENDLESS).flat_map(
        lambda p: tf.data.Dataset.from_tensor_slices(epoch_order(len(images), seed, p)))
    rows = rows.skip(first_batch * batch_size).batch(batch_size, drop_remainder=True)
    return rows.map(lambda r: tensor_to_signed(tf.gather(images, r)))
