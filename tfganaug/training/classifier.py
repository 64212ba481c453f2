"""Training a classifier and evaluating it on held-out data."""

import keras
import numpy as np
import tensorflow as tf

from tfganaug.data.pipeline import FreshSynthesis, classifier_dataset, keyed_steps, one_hot
from tfganaug.distribute import call_in_batches, first_local_batch, step_logs
from tfganaug.evaluation.metrics import classification_metrics
from tfganaug.training.callbacks import StopOnNonFiniteLoss
from tfganaug.training.optimizers import FusedAdam
from tfganaug.training.rebalancing import class_counts, rebalancing_loss


# Training steps per call of Keras's compiled step function, at most: between calls `fit` returns to Python
# (callbacks, logs), about 8% of the labeling study's MLP step (docs/performance.md).
EXECUTION_STEPS = 16


def execution_steps(steps_per_epoch, most=EXECUTION_STEPS):
    """Keras's `steps_per_execution` for an epoch of `steps_per_epoch` steps: the largest count up to `most`
    that divides it (Keras runs whole executions, and an epoch must end where one does)."""
    return max(k for k in range(1, min(most, steps_per_epoch) + 1) if steps_per_epoch % k == 0)


def real_class_accuracy(num_classes):
    """Accuracy whose prediction is the argmax over the first `num_classes` outputs only, as at test time.

    With all-in-one labeling the classifier has one more output (the synthetic class K),
    which is never a valid answer for a real image: validation accuracy, which picks the
    epoch and stops training early, must leave it out exactly as `predict_classes` does.
    With as many outputs as classes this is Keras's categorical accuracy.
    """
    def matches(y_true, y_pred):
        truth = keras.ops.argmax(y_true, axis=-1)
        predicted = keras.ops.argmax(y_pred[..., :num_classes], axis=-1)
        return keras.ops.cast(keras.ops.equal(truth, predicted), "float32")

    return keras.metrics.MeanMetricWrapper(matches, name="accuracy")


class StrategyFit(keras.Model):
    """`network` with Keras's own training and test steps, trainable under any `tf.distribute`
    strategy, MultiWorkerMirroredStrategy included.

    Keras 3.15 cannot `fit` a model under MultiWorkerMirroredStrategy
    (keras-team/keras#20585): its symbolic build averages the first distributed batch
    over the workers, and it averages step logs along an axis that scalars lack. This
    model builds from this worker's own part of the first batch and reshapes its logs
    (`tfganaug.distribute.step_logs`); under any other strategy it trains exactly as
    `network` would. It owns no weights: training it trains `network`.
    """

    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.network = network

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras reads the first batch only when the model was made under a strategy; so do we,
        # so that the data order is Keras's in every case.
        if iterator is not None and self._distribute_strategy is not None:
            for _, _, batches in iterator:
                data_batch = first_local_batch(next(batches), self.distribute_strategy)
                break
        super()._maybe_symbolic_build(data_batch=data_batch)

    def train_step(self, data):
        return step_logs(super().train_step(data))

    def test_step(self, data):
        return step_logs(super().test_step(data))


def fit_classifier(model, images, targets, *, val=None, epochs, batch_size, learning_rate, seed,
                   loss=None, augment=None, patience=None, verbose=2, log_dir=None, jit_compile="auto",
                   num_classes=None, callbacks=(), sample_weight=None, fresh=None, mix=None):
    """Compile and train `model`; keep the weights of the best validation epoch.

    Args:
        model: a classifier taking float images in 0-255 and giving probabilities.
        images, targets: uint8 images and float targets (one-hot or soft rows).
        val: None or (images, integer labels) for model selection; with it the
            weights of the epoch with the best validation accuracy are kept, and
            `patience` epochs without improvement stop training.
        epochs, batch_size, learning_rate: training schedule (Adam, as the fused `FusedAdam`).
        seed: shuffling seed.
        loss: None (categorical cross-entropy) or {"type": ..., options} of `rebalancing.rebalancing_loss`, whose
            class counts are this training set's (`class_counts` of `targets` and `sample_weight`, and with
            `fresh` of its first set: every epoch's set has the same counts and labeling).
        augment: a Keras layer applied to training batches, or None.
        mix: MixUp or CutMix applied to training batches after `augment` (`mixed_batch`), or None.
        verbose: Keras verbosity (1 = progress bar, 2 = one line per epoch).
        log_dir: TensorBoard folder for the per-epoch losses and accuracies, or None.
        jit_compile: XLA for the training step: True, False or "auto" (Keras's choice).
        num_classes: the real classes K, when the model has more outputs (all-in-one labeling's
            synthetic class): accuracies are then taken over the first K outputs, as `predict_classes` does.
        callbacks: further Keras callbacks (e.g. a timer: `bench/classifier_step.py`), called after tfganaug's.
            Batch hooks run once per execution of `execution_steps(steps per epoch)` steps (their `batch` is
            the execution's last step); epoch hooks as usual.
        sample_weight: per-image loss weights (a GAN group's `synthetic_weight`), or None.
        fresh: `draw(epoch)` -> (uint8 images, targets, weights or None): a synthetic set added anew to
            `images` every epoch (`FreshSynthesis`), or None.

    Returns:
        The Keras history as {metric: [value per epoch]}.
    """
    num_outputs = model.output_shape[-1]
    loss_function, loss_callbacks = keras.losses.CategoricalCrossentropy(), []
    if loss is not None:
        counts = class_counts(targets, sample_weight)
        if fresh is not None:
            _, fake_targets, fake_weights = fresh(0)
            counts = counts + class_counts(fake_targets, fake_weights)
        options = {key: value for key, value in loss.items() if key != "type"}
        loss_function, loss_callbacks = rebalancing_loss(loss["type"], counts, epochs, **options)
    if fresh is not None:
        train_ds, steps = FreshSynthesis(images, targets, fresh, batch_size, seed, epochs, augment, mix), None
    else:  # endless, epoch e in an order drawn from (seed, e)
        train_ds = classifier_dataset(images, targets, batch_size, shuffle_seed=seed, augment=augment,
                                      sample_weight=sample_weight, mix=mix)
        steps = keyed_steps(len(images), batch_size)
    model = StrategyFit(model)
    model.compile(
        optimizer=FusedAdam(learning_rate),
        loss=loss_function,
        metrics=[real_class_accuracy(num_classes or num_outputs)],
        jit_compile=jit_compile,
        # One step per execution under MultiWorkerMirroredStrategy: Keras 3.15's multi-step loop fails there
        # (a while loop over the distributed iterator's optional batches; tests/test_distribute.py's two workers).
        steps_per_execution=1 if steps is None or isinstance(tf.distribute.get_strategy(),
                                                             tf.distribute.MultiWorkerMirroredStrategy)
        else execution_steps(steps),
    )
    extra_callbacks = loss_callbacks + list(callbacks)
    callbacks, val_ds = [StopOnNonFiniteLoss(
        f"Nothing of this run was saved; lower classifier.learning_rate (now {learning_rate}) and run the same "
        "command again (finished runs are kept)")], None
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(log_dir), write_graph=False))
    if val is not None and len(val[0]):
        val_ds = classifier_dataset(val[0], one_hot(val[1], num_outputs), batch_size)
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=patience or epochs, restore_best_weights=True))
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs,
                        callbacks=callbacks + extra_callbacks, verbose=verbose, shuffle=False, steps_per_epoch=steps)  # the dataset shuffles itself
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def predict_classes(model, images, num_classes, batch_size=256):
    """Predicted class per image, over the first `num_classes` outputs only.

    With all-in-one labeling the model has an extra "synthetic" output; it is
    never a valid answer for a real test image, so it is left out of the argmax.
    Every worker of a multi-worker run predicts every image (see `call_in_batches`).
    """
    probs = call_in_batches(model, images, batch_size)
    return np.argmax(probs[:, :num_classes], axis=1)


def evaluate_classifier(model, test, batch_size=256):
    """Metrics of `model` on the ImageSet `test` (see `tfganaug.evaluation.metrics.classification_metrics`)."""
    predictions = predict_classes(model, test.images, test.num_classes, batch_size)
    return classification_metrics(test.labels, predictions, test.class_names)
