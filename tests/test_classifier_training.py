"""Classifier training: model selection uses the same rule as the reported test accuracy."""

import keras
import numpy as np

from tfganaug.data.pipeline import one_hot
from tfganaug.training.classifier import fit_classifier, predict_classes


def test_all_in_one_validation_accuracy_leaves_the_synthetic_class_out_as_testing_does():
    # K = 3 real classes plus the all-in-one "synthetic" output, which a huge bias makes the
    # argmax of every row; a learning rate of ~0 keeps it there for the one epoch.
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (24, 4, 4, 1)).astype(np.uint8), np.arange(24) % 3
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel, np.array([0, 0, 0, 50.0], np.float32)])
    history = fit_classifier(model, images, one_hot(labels, 4), val=(images, labels), epochs=1, batch_size=8,
                             learning_rate=1e-9, seed=0, verbose=0, num_classes=3)
    tested = float(np.mean(predict_classes(model, images, 3) == labels))
    assert tested > 0  # over the 3 real classes the predictions are not all wrong
    assert history["val_accuracy"][0] == tested  # over 4 outputs it was 0


def test_sample_weights_reach_the_loss():
    """Two images that see the same (zero) input, a real one of class 0 and a synthetic one of class 1:
    at p = (0.5, 0.5) their gradients on bias 0 are -0.5 and +0.5, so the weighted sum is
    0.5 (w - 1) / 2. Adam's first step moves a bias by -lr x sign(gradient): with a synthetic
    weight of 3 bias 0 goes down by lr, with 1/3 up by lr, with 1 it stays."""
    images, targets = np.zeros((2, 1, 1, 1), np.uint8), one_hot([0, 1], 2)
    moved = {}
    for weight in (3.0, 1 / 3, 1.0):
        model = keras.Sequential([keras.Input((1, 1, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(2, activation="softmax", kernel_initializer="zeros")])
        fit_classifier(model, images, targets, epochs=1, batch_size=2, learning_rate=0.1, seed=0, verbose=0,
                       sample_weight=np.array([1.0, weight], np.float32))
        moved[weight] = model.layers[-1].get_weights()[1][0]
    np.testing.assert_allclose([moved[3.0], moved[1 / 3], moved[1.0]], [-0.1, 0.1, 0.0], atol=1e-4)


def _adam_steps(optimizer):
    """A tiny network's weights after 8 steps of `optimizer` on fixed data."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)])
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(32, 5)).astype("float32"), rng.normal(size=(32, 3)).astype("float32"), batch_size=8,
              epochs=2, verbose=0, shuffle=False)
    return model.get_weights()


def test_fused_adam_makes_kerass_adam_updates_with_one_fused_op_per_variable():
    import tensorflow as tf

    from tfganaug.training.optimizers import FusedAdam

    for fused, plain in zip(_adam_steps(FusedAdam(1e-2, beta_1=0.5)), _adam_steps(keras.optimizers.Adam(1e-2, beta_1=0.5))):
        np.testing.assert_allclose(fused, plain, atol=2e-6)
    variable, optimizer = keras.Variable(np.ones(3, np.float32)), FusedAdam(1e-2)
    optimizer.build([variable])
    graph = tf.function(lambda g: optimizer.apply_gradients([(g, variable)])).get_concrete_function(
        tf.TensorSpec([3], tf.float32)).graph
    assert [op.type for op in graph.get_operations()].count("ResourceApplyAdam") == 1


def test_classifiers_train_with_the_fused_adam():
    from tfganaug.training.optimizers import FusedAdam

    seen = []
    record = keras.callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append(type(record.model.optimizer)))
    images, targets = np.zeros((4, 2, 2, 1), np.uint8), one_hot([0, 1, 0, 1], 2)
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    fit_classifier(model, images, targets, epochs=1, batch_size=2, learning_rate=0.1, seed=0, verbose=0,
                   callbacks=[record])
    assert seen == [FusedAdam]


def test_a_classifier_run_stopped_at_an_epoch_and_run_again_ends_as_an_uninterrupted_one(tmp_path, npz_file):
    """A classifier run (shuffled, with classical augmentation) stopped by Ctrl-C in epoch 3 is trained
    again by the same command: its record (every epoch's losses, every test prediction) equals that of a
    run never stopped, bit for bit."""
    import json

    import yaml

    from tests.conftest import tiny_config
    from tfganaug.cli import main
    from tfganaug.experiment import builders

    raw = tiny_config(npz_file, groups=[{"type": "classical", "augment": {"crop_padding": 1}}])
    raw["classifier"].update(epochs=4, batch_size=4)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "straight")]) == 0

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    fit = builders.fit_classifier
    builders.fit_classifier = lambda *a, **k: fit(*a, **{**k, "callbacks": [Stop()]})
    try:
        assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "stopped")]) == 130
    finally:
        builders.fit_classifier = fit
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "stopped")]) == 0
    (a,), (b,) = ([json.loads(p.read_text()) for p in (tmp_path / run / "runs").glob("*.json")]
                  for run in ("straight", "stopped"))
    assert a["history"] == b["history"] and len(a["history"]["loss"]) == 4
    assert a["test_predictions"] == b["test_predictions"] and a["accuracy"] == b["accuracy"]


def test_steps_per_execution_divides_the_epoch_and_trains_the_same_steps_to_the_same_weights(monkeypatch):
    """`fit_classifier` runs whole executions of the largest count up to 16 dividing the steps per epoch: 2
    epochs of 6 steps are 2 executions of 6 (the batch hooks see steps 6 and 12), 12 optimizer steps, and
    the weights of the same run made one step per execution (same shuffles, same dropout draws)."""
    from tfganaug.networks.classifiers import build_mlp
    from tfganaug.training import classifier

    assert [classifier.execution_steps(n) for n in (430, 645, 64, 13, 17, 1)] == [10, 15, 16, 13, 1, 1]
    rng = np.random.default_rng(0)
    images, targets = rng.integers(0, 256, (24, 4, 4, 1), dtype=np.uint8), one_hot(rng.integers(0, 3, 24), 3)

    def trained():
        keras.utils.set_random_seed(0)
        model, hooks, steps = build_mlp((4, 4, 1), 3, hidden_units=(8,)), [], []
        record = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: hooks.append(batch),
            on_train_end=lambda logs: steps.append(int(record.model.optimizer.iterations)))
        fit_classifier(model, images, targets, epochs=2, batch_size=4, learning_rate=0.05, seed=0, verbose=0,
                       callbacks=[record])
        return model.get_weights(), hooks, steps

    weights, hooks, steps = trained()
    assert hooks == [5, 5] and steps == [12]
    monkeypatch.setattr(classifier, "execution_steps", lambda steps: 1)
    one_by_one, hooks, steps = trained()
    assert hooks == [0, 1, 2, 3, 4, 5] * 2 and steps == [12]
    for a, b in zip(weights, one_by_one):
        np.testing.assert_allclose(a, b, atol=1e-6)
