"""The strong controls: MixUp, CutMix and AugMix augmentation and the re-balancing losses, each against a
hand-computed case, and a GAN group combining them end to end."""

import json

import numpy as np
import pytest
import yaml

from tests.conftest import tiny_config
from tfganaug.data.pipeline import mixed_batch
from tfganaug.synthesis.classical import build_classical_augmentation, build_label_mixing
from tfganaug.training.rebalancing import class_counts, effective_number_weights, ldam_margins, rebalancing_loss

# Two examples of three classes: example 0 is class 0, example 1 is class 2.
LOGITS = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.float32)
TARGETS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)


def _probabilities(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _cross_entropy(adjusted, targets, weights=(1.0, 1.0)):
    """Mean over the batch of w_i * -log softmax(adjusted_i)[y_i], written out."""
    log_softmax = adjusted - np.log(np.exp(adjusted).sum(axis=1, keepdims=True))
    return float(np.mean(-(targets * log_softmax).sum(axis=1) * np.asarray(weights)))


def test_logit_adjustment_adds_tau_log_prior_to_the_training_logits():
    loss, callbacks = rebalancing_loss("logit_adjustment", [6, 3, 1], epochs=10, tau=0.5)
    # prior [0.6, 0.3, 0.1]: 0.5 * log prior = [-0.25541, -0.60199, -1.15129]
    expected = [[0.74459, 1.39801, -0.65129], [-0.25541, -1.60199, 1.84871]]
    np.testing.assert_allclose(loss.adjusted_logits(TARGETS, LOGITS), expected, atol=1e-5)
    # The loss is the cross-entropy of those logits, from the classifier's probabilities.
    assert float(loss(TARGETS, _probabilities(LOGITS))) == pytest.approx(_cross_entropy(np.array(expected), TARGETS),
                                                                        abs=1e-5)
    assert callbacks == []


def test_balanced_softmax_adds_log_class_count_and_equals_logit_adjustment_at_tau_1():
    balanced, _ = rebalancing_loss("balanced_softmax", [6, 3, 1], epochs=10)
    # log n = [1.79176, 1.09861, 0]
    np.testing.assert_allclose(balanced.adjusted_logits(TARGETS, LOGITS),
                               [[2.79176, 3.09861, 0.5], [1.79176, 0.09861, 3.0]], atol=1e-5)
    adjusted, _ = rebalancing_loss("logit_adjustment", [6, 3, 1], epochs=10)
    p = _probabilities(LOGITS)
    # log n and log prior differ by log N, one constant per row, which the softmax cancels.
    assert float(balanced(TARGETS, p)) == pytest.approx(float(adjusted(TARGETS, p)), abs=1e-5)
    assert float(balanced(TARGETS, p)) == pytest.approx(_cross_entropy(LOGITS + np.log([6, 3, 1]), TARGETS), abs=1e-5)


def test_ldam_margins_scale_and_deferred_weights_by_hand():
    # n^(-1/4) of [16, 1, 81] is [1/2, 1, 1/3]; C makes the rarest class's margin 0.5.
    np.testing.assert_allclose(ldam_margins([16, 1, 81]), [0.25, 0.5, 0.5 / 3])
    loss, (drw,) = rebalancing_loss("ldam_drw", [16, 1, 81], epochs=10, beta=0.9, scale=30.0)
    # Only the true class's logit loses its margin, then everything is times s (30: the reference code's).
    expected = [[30 * 0.75, 60.0, 15.0], [0.0, -30.0, 30 * (3 - 0.5 / 3)]]
    np.testing.assert_allclose(loss.adjusted_logits(TARGETS, LOGITS), expected, rtol=1e-6)
    # (1 - 0.9) / (1 - 0.9^n) = [0.1227449, 1, 0.1000197] (sum 1.2227645), normalised to sum to 3.
    weights = [0.3011492, 2.4534568, 0.2453939]
    np.testing.assert_allclose(effective_number_weights([16, 1, 81], 0.9), weights, rtol=1e-5)
    np.testing.assert_allclose(drw.weights, weights, rtol=1e-5)
    assert drw.switch_epoch == 8  # 80% of 10 epochs (the paper's 160 of 200)

    p = _probabilities(LOGITS)
    drw.on_epoch_begin(7)
    before = float(loss(TARGETS, p))
    assert before == pytest.approx(_cross_entropy(np.array(expected), TARGETS), rel=1e-4)
    drw.on_epoch_begin(8)
    assert float(loss(TARGETS, p)) == pytest.approx(
        _cross_entropy(np.array(expected), TARGETS, weights=[weights[0], weights[2]]), rel=1e-4)
    assert rebalancing_loss("ldam_drw", [16, 1, 81], epochs=10, drw_epoch=3)[1][0].switch_epoch == 3
    # The default s is 1: ordinary logits, not a normalised layer's cosines, are not scaled up.
    default = rebalancing_loss("ldam_drw", [16, 1, 81], epochs=10)[0]
    np.testing.assert_allclose(default.adjusted_logits(TARGETS, LOGITS), np.array(expected) / 30, rtol=1e-6)


def test_drw_switches_the_weights_during_fit_at_its_epoch():
    import keras

    loss, (drw,) = rebalancing_loss("ldam_drw", [4, 2], epochs=3, drw_epoch=2, beta=0.9)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(keras.ops.convert_to_numpy(loss.class_weight).tolist()))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss)  # no step: every epoch sees the same outputs
    x, y = np.ones((6, 2), np.float32), np.eye(2, dtype=np.float32)[[0, 0, 0, 0, 1, 1]]
    history = model.fit(x, y, epochs=3, callbacks=[drw, record], verbose=0).history["loss"]
    assert seen[0] == seen[1] == [1.0, 1.0]
    np.testing.assert_allclose(seen[2], effective_number_weights([4, 2], 0.9), rtol=1e-6)
    # The compiled training step reads the weights the callback set: epoch 2's loss is the re-weighted one.
    assert history[2] == pytest.approx(float(loss(y, model(x))), rel=1e-5)
    drw.on_epoch_begin(0)
    unweighted = float(loss(y, model(x)))
    assert history[0] == pytest.approx(unweighted, rel=1e-5) and history[1] == pytest.approx(unweighted, rel=1e-5)
    assert history[2] != pytest.approx(unweighted, rel=1e-2)


def test_class_weight_loss_counts_sample_weights_and_matches_keras_class_weights():
    import keras

    targets = np.eye(3, dtype=np.float32)[[0, 0, 1, 2, 2, 2]]
    counts = class_counts(targets, [1, 1, 0.5, 1, 1, 1])
    np.testing.assert_allclose(counts, [2, 0.5, 3])
    loss, _ = rebalancing_loss("class_weight", counts, epochs=1)
    weights = 5.5 / (3 * counts)  # N / (K n_j)
    p = _probabilities(np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32))
    # What Keras's fit(class_weight=...) computed for the class_weight group before: the weight of the label.
    keras_value = keras.losses.CategoricalCrossentropy()(targets, p, sample_weight=weights[targets.argmax(axis=1)])
    assert float(loss(targets, p)) == pytest.approx(float(keras_value), rel=1e-5)
    # It serialises as Keras losses do, its class weights included.
    assert float(keras.losses.deserialize(keras.losses.serialize(loss))(targets, p)) == pytest.approx(float(keras_value),
                                                                                                        rel=1e-5)


def _pair():
    """A black and a white 8x8 image, one-hot labels of two classes, loss weights 1 and 0.5."""
    images = np.stack([np.zeros((8, 8, 1)), np.full((8, 8, 1), 255.0)]).astype(np.float32)
    return images, np.eye(2, dtype=np.float32), np.array([1.0, 0.5], np.float32)


def test_mixup_mixes_labels_and_weights_as_it_mixes_the_pair():
    images, labels, weights = _pair()
    mixed, targets, mixed_weights = (np.asarray(t) for t in mixed_batch(
        build_label_mixing(mixup={"alpha": 1.0}, seed=2), images, labels, weights))
    # Each mixed image is lambda * itself + (1 - lambda) * the other: its brightness gives lambda.
    share_of_white = mixed.mean(axis=(1, 2, 3)) / 255
    assert 0.05 < share_of_white[0] < 0.95  # the seed pairs the two images (not each with itself)
    for i, white in enumerate(share_of_white):
        np.testing.assert_allclose(targets[i], (1 - white) * labels[0] + white * labels[1], atol=1e-5)
        assert mixed_weights[i] == pytest.approx((1 - white) * weights[0] + white * weights[1], abs=1e-5)


def test_cutmix_label_weight_is_the_pasted_boxs_pixel_share():
    images, labels, weights = _pair()
    mixed, targets, mixed_weights = (np.asarray(t) for t in mixed_batch(
        build_label_mixing(cutmix={"alpha": 1.0}, seed=0), images, labels, weights))
    pasted_into_black = (mixed[0] == 255).mean()
    pasted_into_white = (mixed[1] == 0).mean()
    assert 0 < pasted_into_black < 1 and 0 < pasted_into_white < 1
    np.testing.assert_allclose(targets[0], [1 - pasted_into_black, pasted_into_black], atol=1e-6)
    np.testing.assert_allclose(targets[1], [pasted_into_white, 1 - pasted_into_white], atol=1e-6)
    assert mixed_weights[0] == pytest.approx(1 - 0.5 * pasted_into_black, abs=1e-6)


def test_augmix_keeps_small_grey_images_in_range_and_changes_them():
    layer = build_classical_augmentation((28, 28, 1), augmix={"num_chains": 3, "chain_depth": 2, "factor": 0.2,
                                                              "alpha": 1.0}, seed=1)
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype(np.float32)
    out = np.asarray(layer(images, training=True))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 255
    assert not np.allclose(out, images)
    assert build_classical_augmentation((28, 28, 1)) is None  # mixing alone: no image layers


TINY_GAN = {"model": "cgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 8}


@pytest.mark.slow
def test_a_gan_group_with_mixup_and_logit_adjustment_trains_end_to_end(npz_file, tmp_path, monkeypatch):
    from tfganaug.cli import main
    from tfganaug.data import pipeline
    from tfganaug.training import classifier

    seen, mixed_calls = [], []
    build, mix = classifier.rebalancing_loss, pipeline.mixed_batch
    monkeypatch.setattr(classifier, "rebalancing_loss", lambda kind, counts, epochs, **o: (
        seen.append((kind, np.asarray(counts).tolist(), o)), build(kind, counts, epochs, **o))[1])
    monkeypatch.setattr(pipeline, "mixed_batch", lambda *a: (mixed_calls.append(1), mix(*a))[1])
    raw = tiny_config(npz_file, groups=[{"type": "gan", "gan": TINY_GAN, "augment": {"mixup": {"alpha": 0.2}},
                                         "loss": {"type": "logit_adjustment"}}])
    raw["data"]["rare"] = {"c1": 0.5}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "run")]) == 0
    # 6, 3, 6 real images and round(0.5 * 15) = 8 synthetic spread 3, 3, 2: the counts the loss sees.
    assert seen == [("logit_adjustment", [9.0, 6.0, 8.0], {"tau": 1.0})]
    assert mixed_calls  # the training batches were mixed
    (run,) = json.loads((tmp_path / "run" / "results.json").read_text())["runs"]
    assert run["group"] == "cgan-pseudo_label+classical+logit_adjustment"
    assert run["loss"] == {"type": "logit_adjustment", "tau": 1.0} and run["train_size"] == 23


@pytest.mark.parametrize("group, message", [
    ({"type": "gan", "augment": {"cutmix": {}}, "loss": {"type": "ldam_drw"}},
     "loss ldam_drw puts a margin on each image's one true class; augment.mixup / augment.cutmix"),
    ({"type": "gan", "labeling": "lsro", "loss": {"type": "ldam_drw"}}, "labeling lsro gives soft target rows"),
    ({"type": "classical", "augment": {"mixup": {}, "cutmix": {}}}, "give augment.mixup or augment.cutmix, not both"),
    ({"type": "class_weight", "loss": {"type": "balanced_softmax"}}, "group type class_weight is loss {type: class_weight}"),
    ({"type": "classical", "augment": {"flip": None, "translate": 0}}, "augment needs at least one of"),
    ({"type": "baseline", "loss": {"type": "focal"}}, "groups.0.loss"),
    ({"type": "baseline", "loss": {"type": "ldam_drw", "drw_epoch": 1}},
     "groups.0.loss.drw_epoch: 1 is not below classifier.epochs (1)"),
])
def test_controls_that_cannot_combine_are_refused_naming_the_keys(npz_file, tmp_path, capsys, group, message):
    from tfganaug.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, groups=[group])))
    assert main(["train", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "groups.0" in err and message in err and "Traceback" not in err


def test_groups_record_their_loss_and_class_weight_is_that_loss(npz_file):
    from tfganaug.config import validate
    from tfganaug.experiment import make_splits, plan_group

    config = validate(tiny_config(npz_file, groups=[
        "class_weight", {"type": "baseline", "loss": {"type": "ldam_drw", "drw_epoch": 0}},
        {"type": "classical", "augment": {"flip": None, "translate": 0, "cutmix": {}}}]))
    splits = make_splits(config.data)
    plans = [plan_group(g, splits, 0) for g in config.groups]
    assert plans[0].loss == {"type": "class_weight"} and plans[0].mix is None
    assert plans[1].loss == {"type": "ldam_drw", "max_margin": 0.5, "scale": 1.0, "beta": 0.9999, "drw_epoch": 0}
    assert type(plans[2].mix).__name__ == "CutMix" and plans[2].augment is None and plans[2].loss is None
    # A group without the new keys hashes as before (its finished runs are found again).
    assert "loss" not in config.groups[0].key_dump() and "mixup" not in config.groups[2].augment.key_dump()


def test_the_loss_counts_a_fresh_synthetic_set_with_its_weights(monkeypatch):
    import keras

    from tfganaug.data.pipeline import one_hot
    from tfganaug.training import classifier

    seen, build = [], classifier.rebalancing_loss
    monkeypatch.setattr(classifier, "rebalancing_loss", lambda kind, counts, epochs, **o: (
        seen.append(np.asarray(counts).tolist()), build(kind, counts, epochs, **o))[1])
    real = np.zeros((3, 8, 8, 1), np.uint8)
    fake = (np.zeros((2, 8, 8, 1), np.uint8), one_hot([2, 2], 3), np.array([0.5, 0.5], np.float32))
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    classifier.fit_classifier(model, real, one_hot([0, 0, 1], 3), epochs=1, batch_size=5, learning_rate=1e-3, seed=0,
                              verbose=0, fresh=lambda epoch: fake, loss={"type": "balanced_softmax"})
    assert seen == [[2.0, 1.0, 1.0]]  # the real images, and two synthetic ones of class 2 at weight 0.5


def test_augmix_draws_its_operations_for_every_batch_inside_a_graph():
    import tensorflow as tf

    from tfganaug.synthesis.augmix import PerBatchAugMix

    layer = PerBatchAugMix(value_range=(0, 255), num_chains=1, chain_depth=1, all_ops=False, seed=0)
    images = tf.zeros((2, 8, 8, 1))
    choose = tf.function(lambda x: layer.get_random_transformation(x)["chains"][0][0]["choice"])  # traced once
    assert len({int(choose(images)) for _ in range(20)}) > 3  # of 7 operations and none
    ds = tf.data.Dataset.from_tensors(images).repeat(3).map(lambda x: layer(x, training=True))
    assert [tuple(batch.shape) for batch in ds] == [(2, 8, 8, 1)] * 3
