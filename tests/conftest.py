"""Shared test helpers: tiny image sets and tiny experiment configs."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# tests/replicas.py is a script run in fresh processes and the tiny-GAN builders test files import.
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tfganaug.data.imageset import ImageSet  # noqa: E402


def make_imageset(num_classes=3, per_class=10, shape=(8, 8, 1), seed=0, counts=None):
    """Random uint8 images whose mean brightness depends on the class (so classes are learnable)."""
    rng = np.random.default_rng(seed)
    counts = counts or [per_class] * num_classes
    labels = np.concatenate([np.full(n, c, dtype=np.int64) for c, n in enumerate(counts)])
    base = (labels * (200 // max(1, num_classes - 1)))[:, None, None, None]
    images = np.clip(base + rng.integers(0, 40, size=(len(labels),) + tuple(shape)), 0, 255).astype(np.uint8)
    return ImageSet(images, labels, tuple(f"c{k}" for k in range(num_classes)))


def write_npz(path, num_classes=3, per_class=12, shape=(8, 8, 1), seed=0):
    """An .npz data set in the keras.datasets layout, with class names."""
    train = make_imageset(num_classes, per_class, shape, seed)
    test = make_imageset(num_classes, 4, shape, seed + 1)
    np.savez(path, x_train=train.images, y_train=train.labels, x_test=test.images, y_test=test.labels,
             class_names=np.array(train.class_names))
    return path


def tiny_config(npz_path, **sections):
    """A raw config dict for a fast run on an npz file; keyword arguments replace whole sections."""
    config = {
        "name": "tiny",
        "seeds": [0],
        "data": {"source": "npz", "path": str(npz_path), "samples_per_class": 6, "val_per_class": 2},
        "classifier": {"model": "small_cnn", "filters": [4], "dense_units": 8, "epochs": 1, "batch_size": 8},
        "groups": ["baseline"],
    }
    config.update(sections)
    return config


def without_timings(value):
    """`value` (a results.json) without the records' "seconds": wall time, the one key two runs of the same
    work may not reproduce."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


@pytest.fixture(autouse=True)
def _no_lock_mode_left_in_the_environment(monkeypatch):
    """Every test starts and ends without $TFGANAUG_LOCK / $TFGANAUG_LEASE_SECONDS: a planned command run
    in-process (`main([...])`) sets them in os.environ for the processes it starts, and a lease mode left
    behind changed which lock files a later test's command wrote (seen once test files shared a worker)."""
    for name in ("TFGANAUG_LOCK", "TFGANAUG_LEASE_SECONDS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def npz_file(tmp_path):
    return write_npz(tmp_path / "tiny.npz")


def tiny_cyclegan_export(root, name="tiny-cyclegan"):
    """A tiny CycleGAN on 8x8x1 images between class 'a' and classes 'b', 'c', exported; returns (model, path)."""
    from tfganaug.config import CycleGANConfig
    from tfganaug.serving.export import export_generator
    from tfganaug.experiment import build_cyclegan

    cfg = CycleGANConfig(name="t", domain_a=["a"], domain_b=["b", "c"], filters=2, downsamplings=1,
                         residual_blocks=1, d_filters=2, d_layers=1, epochs=1, decay_epochs=0, pool_size=2)
    model = build_cyclegan(cfg, (8, 8, 1), seed=0)
    spec = {"cyclegan": cfg.model_dump(mode="json"), "image_shape": [8, 8, 1], "class_names": ["a", "b", "c"],
            "domain_a": [0], "domain_b": [1, 2]}
    return model, export_generator(model, spec, root, name)
