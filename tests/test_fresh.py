"""Fresh synthetic images every epoch (`synthesize.fresh`): new images each epoch through Keras's
PyDataset hooks, the same ones on a rerun with the same seed, in the fixed set's counts and labels."""

import keras
import numpy as np

from tests.conftest import make_imageset
from tests.test_groups import TINY_GAN, UntrainedModels
from tfganaug.data.pipeline import FreshSynthesis, one_hot


def marked(epoch, n=4):
    """An epoch's synthetic set: n flat images (every pixel 10 + epoch), labelled class 1."""
    return np.full((n, 8, 8, 1), 10 + epoch, np.uint8), one_hot(np.ones(n, int), 3), None


def synthetic_marks(images):
    """The mark of every flat (synthetic) image of a batch; the real images are noise."""
    flat = images.reshape(len(images), -1)
    return sorted(flat[flat.min(1) == flat.max(1)][:, 0].tolist())


def test_every_pass_draws_its_own_set_and_keeps_the_real_images():
    train = make_imageset(3, 4)
    data = FreshSynthesis(train.images, one_hot(train.labels, 3), marked, batch_size=5, seed=0, epochs=3)
    assert len(data) == 4  # (12 real + 4 synthetic) / 5, rounded up

    def one_pass():
        return np.concatenate([data[i][0] for i in range(len(data))])

    peek = data[0][0]  # Keras reads batches to learn their shapes before training: epoch 0's set
    data.on_epoch_begin()
    passes = [one_pass(), one_pass(), one_pass(), one_pass()]  # Keras prefetches once more after the last epoch
    assert [synthetic_marks(p) for p in passes] == [[10.0] * 4, [11.0] * 4, [12.0] * 4, [12.0] * 4]
    np.testing.assert_array_equal(peek, passes[0][:5])
    for images in passes:  # the real images are in every epoch, each once
        flat = images.reshape(len(images), -1)
        real = images[flat.min(1) != flat.max(1)]
        assert sorted(map(bytes, real.astype(np.uint8))) == sorted(map(bytes, train.images))
    assert not np.array_equal(passes[0], passes[1])
    rerun = FreshSynthesis(train.images, one_hot(train.labels, 3), marked, batch_size=5, seed=0, epochs=3)
    rerun.on_epoch_begin()
    np.testing.assert_array_equal(np.concatenate([rerun[i][0] for i in range(len(rerun))]), passes[0])


def test_keras_fit_draws_one_set_per_epoch():
    """Through Keras `fit`: the steps of epoch e train on the real images and set e, none of another set
    (the model records the synthetic marks of every batch it trains on)."""
    import tensorflow as tf

    from tfganaug.training.classifier import fit_classifier

    train, drawn, trained, ends = make_imageset(3, 4), [], [], []

    def draw(epoch):
        drawn.append(epoch)
        return marked(epoch)

    def record(images):
        trained.append(synthetic_marks(images.numpy()))
        return images

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Lambda(
        lambda x: tf.ensure_shape(tf.py_function(record, [x], tf.float32), x.shape), output_shape=(8, 8, 1)),
        keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    epoch_ends = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(len(trained)))
    history = fit_classifier(model, train.images, one_hot(train.labels, 3), epochs=3, batch_size=8,
                             learning_rate=1e-3, seed=0, verbose=0, fresh=draw, jit_compile=False,
                             callbacks=[epoch_ends])
    assert drawn == [0, 1, 2] and len(history["loss"]) == 3 and ends == [2, 4, 6]  # (12 + 4) / 8 steps an epoch
    for epoch, (start, end) in enumerate(zip([0] + ends, ends)):
        marks = sum(trained[start:end], [])
        assert marks == [10.0 + epoch] * 4, (epoch, trained)


def test_a_fresh_gan_group_draws_new_images_each_epoch_in_the_fixed_sets_counts_and_labels():
    from tfganaug.config import GANGroup
    from tfganaug.data.sampling import Splits
    from tfganaug.experiment.planning import plan_group

    train = make_imageset(3, 6)
    splits = Splits(train, train.take([]), train.take([]), train)
    fresh = GANGroup(type="gan", gan=TINY_GAN, synthesize={"ratio": 0.5, "fresh": True})
    fixed = GANGroup(type="gan", gan=TINY_GAN, synthesize={"ratio": 0.5})

    def plan(group):  # the same untrained GAN each time, as a run's trained one would be
        keras.utils.set_random_seed(0)
        return plan_group(group, splits, seed=3, models=UntrainedModels())

    first_plan, fixed_plan = plan(fresh), plan(fixed)
    assert len(first_plan.images) == 18 and first_plan.size == fixed_plan.size == 27
    (a, rows_a, _), (b, rows_b, _) = first_plan.fresh(0), first_plan.fresh(1)
    assert len(a) == len(b) == 9 and not np.array_equal(a, b)
    np.testing.assert_array_equal(rows_a, fixed_plan.targets[18:])  # the fixed set's labels, each epoch
    np.testing.assert_array_equal(rows_b, rows_a)
    np.testing.assert_array_equal(first_plan.fresh(1)[0], b)  # drawn again: the same images
    np.testing.assert_array_equal(plan(fresh).fresh(1)[0], b)  # and on a rerun


def test_every_epoch_of_every_seed_gets_its_own_synthesis_seed():
    from tfganaug.experiment.planning import epoch_seed

    seeds = {epoch_seed(seed, epoch) for seed in range(3) for epoch in range(5000)}
    assert len(seeds) == 3 * 5000  # the old hash mod 2^20 gave 5 collisions in 2,000 epochs of seed 0
    rounds = {s * 1000 + r for s in seeds for r in range(10)}  # what synthesize's filter rounds draw from
    assert len(rounds) == 10 * len(seeds) and not seeds & set(range(2**16))  # nor any run seed's fixed set


def test_a_fresh_set_of_another_size_keeps_every_real_image_once():
    """Epoch 1's filter kept 2 images, epoch 2's 7, epoch 3's none (the first set had 4): the synthetic
    images are repeated or cut to 4; the real ones are each in every epoch exactly once."""
    train = make_imageset(3, 4)
    sizes = {0: 4, 1: 2, 2: 7, 3: 0}
    data = FreshSynthesis(train.images, one_hot(train.labels, 3), lambda e: marked(e, sizes[e]), batch_size=5,
                          seed=0, epochs=4)
    data.on_epoch_begin()
    for epoch in range(3):
        images = np.concatenate([data[i][0] for i in range(len(data))])
        assert len(images) == 16 and synthetic_marks(images) == [10.0 + epoch] * 4
        flat = images.reshape(len(images), -1)
        real = images[flat.min(1) != flat.max(1)]
        assert sorted(map(bytes, real.astype(np.uint8))) == sorted(map(bytes, train.images))
    images = np.concatenate([data[i][0] for i in range(len(data))])  # nothing to repeat: real images fill it
    assert len(images) == 16 and synthetic_marks(images) == []
