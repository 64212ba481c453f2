import numpy as np

from tfganaug.data.pipeline import classifier_dataset, gan_dataset


def _images(n):
    return np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2, 1)


def test_gan_batches_are_full_in_minus_one_to_one_and_keep_image_label_pairs():
    images, labels = _images(10), np.arange(10) % 3
    batches = list(gan_dataset(images, labels, batch_size=4, seed=0))
    assert [len(x) for x, _ in batches] == [4, 4]  # the remainder of 2 is dropped
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
