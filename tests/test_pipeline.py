import numpy as np

from tfganaug.data.pipeline import classifier_dataset, domain_dataset, gan_dataset, gan_steps, keyed_steps


def _images(n):
    return np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2, 1)


def test_gan_batches_are_full_in_minus_one_to_one_and_keep_image_label_pairs():
    images, labels = _images(10), np.arange(10) % 3
    assert gan_steps(10, 4) == 2  # the remainder of 2 is dropped
    batches = list(gan_dataset(images, labels, batch_size=4, seed=0).take(6))
    assert [len(x) for x, _ in batches] == [4] * 6
    for x, y in batches:
        x, y = x.numpy(), y.numpy()
        assert x.dtype == np.float32 and x.min() >= -1.0 and x.max() <= 1.0
        index = np.round((x[:, 0, 0, 0] + 1.0) * 127.5).astype(int) // 4  # the first pixel gives the image's index
        np.testing.assert_array_equal(y, labels[index])


def test_classifier_batches_keep_order_without_a_seed():
    images = _images(5)
    targets = np.eye(5, dtype=np.float32)
    xs = [x.numpy() for x, _ in classifier_dataset(images, targets, batch_size=2)]
    np.testing.assert_array_equal(np.concatenate(xs), images.astype(np.float32))


def test_training_pipelines_run_with_autotuning_off():
    # With it on, fit steps wait on tf.data on small CPU machines (bench/train_step.py).
    images = _images(8)
    for ds in (gan_dataset(images, np.zeros(8, int), 4, seed=0),
               classifier_dataset(images, np.eye(8, dtype=np.float32), 4, shuffle_seed=0)):
        assert ds.options().autotune.enabled is False


def _indices(batches):
    """The image index of every row of (images, ...) or images batches of `_images` (first pixel / 4)."""
    return [(np.round((np.asarray(b[0] if isinstance(b, tuple) else b)[:, 0, 0, 0] + 1.0) * 127.5).astype(int)
             // 4).tolist() for b in batches]


def test_each_epochs_order_is_drawn_from_the_seed_and_the_epoch_alone():
    """A dataset started at epoch 3 (a resumed run) gives exactly what one started at 0 gives from epoch 3;
    each epoch holds every image once but the remainder; epochs differ; another seed another order."""
    images, labels = _images(10), np.arange(10) % 3
    steps = gan_steps(10, 4)
    straight = _indices(gan_dataset(images, labels, 4, seed=7).take(5 * steps))
    resumed = _indices(gan_dataset(images, labels, 4, seed=7, first_epoch=3).take(2 * steps))
    assert resumed == straight[3 * steps:]
    epochs = [sum(straight[e * steps:(e + 1) * steps], []) for e in range(5)]
    assert all(len(set(e)) == 8 for e in epochs) and len({tuple(e) for e in epochs}) == 5
    assert _indices(gan_dataset(images, labels, 4, seed=8).take(steps)) != straight[:steps]
    # The classifier's: every image once per epoch (the last batch short), the same keyed order.
    targets = np.eye(10, dtype=np.float32)
    batches = list(classifier_dataset(images, targets, 4, shuffle_seed=7).take(2 * keyed_steps(10, 4)))
    rows = [np.argmax(t, axis=1).tolist() for _, t in batches]
    assert [len(r) for r in rows] == [4, 4, 2] * 2 and sorted(sum(rows[:3], [])) == list(range(10))
    assert sum(rows[:3], []) != sum(rows[3:], [])
    # A CycleGAN domain started at batch 5 continues where one started at 0 is at batch 5.
    domain = [_indices([b]) for b in domain_dataset(images, 3, seed=1).take(9)]
    assert [_indices([b]) for b in domain_dataset(images, 3, seed=1, first_batch=5).take(4)] == domain[5:]
