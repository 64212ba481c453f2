import numpy as np
import pytest

from tests.conftest import make_imageset, tiny_config
from tfganaug.synthesis.classical import build_classical_augmentation
from tfganaug.synthesis.controls import balanced_class_weights, duplicate, oversample


def test_duplicate_repeats_every_image():
    train = make_imageset(2, 3)
    doubled = duplicate(train)
    assert len(doubled) == 12 and doubled.counts().tolist() == [6, 6]
    assert np.array_equal(doubled.images[:6], doubled.images[6:])
    assert len(duplicate(train, 3)) == 18


def test_oversample_fills_every_class_to_the_majority_keeping_originals():
    train = make_imageset(3, counts=[10, 2, 5])
    out = oversample(train, seed=0)
    assert out.counts().tolist() == [10, 10, 10]
    assert np.array_equal(out.images[: len(train)], train.images)
    originals = {img.tobytes() for img in train.images[train.labels == 1]}
    assert {img.tobytes() for img in out.images[out.labels == 1]} == originals


def test_balanced_class_weights_hand_computed():
    weights = balanced_class_weights([10, 2, 8])
    assert weights == pytest.approx({0: 20 / 30, 1: 20 / 6, 2: 20 / 24})


def test_classical_augmentation_changes_images_and_keeps_shape():
    images = make_imageset(2, 4, shape=(12, 12, 1)).images.astype("float32")
    layer = build_classical_augmentation((12, 12, 1), flip="horizontal", crop_padding=2, translate=0.1,
                                         rand_augment={"num_ops": 1, "factor": 0.5},
                                         random_erasing={"factor": 1.0, "scale": (0.05, 0.2)}, seed=1)
    out = np.asarray(layer(images, training=True))
    assert out.shape == images.shape
    assert not np.allclose(out, images)


def test_classical_augmentation_needs_an_operation():
    from pydantic import ValidationError

    from tfganaug.config import AugmentConfig

    with pytest.raises(ValidationError, match="augment needs at least one of"):
        AugmentConfig(flip=None, translate=0.0)


TINY_GAN = {"model": "cgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 8}


class UntrainedModels:
    """Stands in for a run's `RunModels`: an untrained GAN instead of a trained one."""

    def gan(self, settings, train, seed):
        from tfganaug.experiment import build_gan

        return build_gan(settings, train.image_shape, train.num_classes, seed)


def test_a_gan_groups_synthetic_weight_weighs_its_synthetic_images(npz_file):
    from tfganaug.config import validate
    from tfganaug.experiment import make_splits, plan_group

    config = validate(tiny_config(npz_file, groups=[{"type": "gan", "gan": TINY_GAN, "synthetic_weight": 0.25}]))
    splits = make_splits(config.data)
    plan = plan_group(config.groups[0], splits, 0, UntrainedModels())
    real, synthetic = len(splits.train), len(plan.images) - len(splits.train)
    assert synthetic == 9 and plan.sample_weight.tolist() == [1.0] * real + [0.25] * synthetic  # +50% of 18
    # At the default weight: no weights, and the run key of a config written before the key existed.
    default = validate(tiny_config(npz_file, groups=[{"type": "gan", "gan": TINY_GAN}]))
    assert plan_group(default.groups[0], splits, 0, UntrainedModels()).sample_weight is None
    assert "synthetic_weight" not in default.groups[0].key_dump()


def test_finetune_epochs_train_on_the_real_images_only_after_the_mixed_set(npz_file, monkeypatch):
    from tfganaug.config import validate
    from tfganaug.experiment import builders, make_splits
    from tfganaug.experiment.runner import run_one

    calls, fit = [], builders.fit_classifier

    def spy(model, images, targets, **options):
        calls.append((images.copy(), options["epochs"]))
        return fit(model, images, targets, **options)

    monkeypatch.setattr(builders, "fit_classifier", spy)
    config = validate(tiny_config(npz_file, groups=[{"type": "gan", "gan": TINY_GAN, "finetune_epochs": 2}]))
    splits = make_splits(config.data)
    record = run_one(config, config.groups[0], 0, splits, UntrainedModels(), verbose=0)
    (mixed, mixed_epochs), (real, real_epochs) = calls
    assert len(mixed) == 27 and mixed_epochs == config.classifier.epochs
    assert real_epochs == 2 and np.array_equal(real, splits.train.images)
    assert len(record["finetune_history"]["loss"]) == 2 and "finetune_history" not in run_one(
        config.model_copy(update={"groups": [config.groups[0].model_copy(update={"finetune_epochs": 0})]}),
        config.groups[0].model_copy(update={"finetune_epochs": 0}), 0, splits, UntrainedModels(), verbose=0)


def _brightness_classifier(perfect):
    """A classifier of make_imageset's images (class c: mean brightness ~100c + 20) by their mean pixel:
    right on every image (`perfect`), or all-zero weights (every image class 0)."""
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    if perfect:
        model.set_weights([np.array([[0.0, 1.0, 2.0]]), np.array([0.0, -70.0, -240.0])])
    else:
        model.set_weights([np.zeros((1, 3)), np.zeros(3)])
    return model


@pytest.mark.parametrize("start, after, kept", [(True, False, "before_finetune"), (False, True, "finetuned")])
def test_finetuning_keeps_the_groups_augmentation_and_the_better_weights_on_validation(start, after, kept):
    from types import SimpleNamespace

    from tfganaug.experiment.runner import finetune

    data, augment, mix, loss, seen = make_imageset(3, 4), object(), object(), {"type": "balanced_softmax"}, {}

    def fit(model, images, targets, val, seed, verbose=0, epochs=None, **options):
        seen.update(options, epochs=epochs, images=images)
        model.set_weights(_brightness_classifier(after).get_weights())  # what fine-tuning made of it
        return {"loss": [0.0] * epochs}

    model = _brightness_classifier(start)
    splits = SimpleNamespace(train=data, val=make_imageset(3, 4, seed=1))
    plan = SimpleNamespace(targets=np.zeros((1, 3)), augment=augment, mix=mix, loss=loss)
    extra = finetune(model, SimpleNamespace(fit=fit), plan, splits, seed=0, epochs=2, verbose=0)
    assert seen["augment"] is augment and seen["mix"] is mix and seen["loss"] is loss and seen["epochs"] == 2 and np.array_equal(seen["images"], data.images)
    accuracy = {True: 1.0, False: 1 / 3}
    assert extra["finetune"] == {"kept": kept, "val_accuracy_before": accuracy[start],
                                 "val_accuracy_after": accuracy[after]}
    for weights, expected in zip(model.get_weights(), _brightness_classifier(True).get_weights()):
        np.testing.assert_array_equal(weights, expected)  # the perfect weights, whichever came first


def test_resplit_per_seed_trains_and_tests_each_seed_on_its_own_split(npz_file, tmp_path, monkeypatch):
    from tfganaug.config import validate
    from tfganaug.experiment import make_splits, runner

    seen, plan = {}, runner.plan_group

    def spy(group, splits, seed, models=None):
        seen[seed] = splits
        return plan(group, splits, seed, models)

    monkeypatch.setattr(runner, "plan_group", spy)
    raw = tiny_config(npz_file, seeds=[0, 1])
    raw["data"].update(resplit_per_seed=True, samples_per_class=4, seed=5)
    config = validate(raw)
    runner.run_experiment(config, tmp_path / "run", log=lambda *_: None, verbose=0)
    for seed in (0, 1):  # seed s trains on the split drawn with data.seed + s
        expected = make_splits(config.data.model_copy(update={"seed": 5 + seed, "resplit_per_seed": False}))
        assert np.array_equal(seen[seed].train.images, expected.train.images)
    assert not np.array_equal(seen[0].train.images, seen[1].train.images)
    one_split = validate({**raw, "data": {**raw["data"], "resplit_per_seed": False}})
    assert "resplit_per_seed" not in one_split.data.key_dump() and one_split.data.for_seed(1) is one_split.data
