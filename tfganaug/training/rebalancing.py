"""Re-balancing losses for classifiers trained on unbalanced classes: class weights, logit adjustment,
Balanced Softmax and LDAM with deferred re-weighting (DRW), as one Keras loss and a callback.

Every one of them is a softmax cross-entropy of adjusted logits,

    loss_i = w(y_i) * CE(y_i, softmax(scale * (z_i + shift - margin * y_i))),   w(y_i) = sum_j y_ij * weight_j,

with per-class vectors `shift`, `margin`, `weight` and a number `scale` made from the class counts n_j
(`rebalancing_loss`). The adjustment exists only in training: the classifier itself is unchanged and
predicts from its plain logits, which is what these papers evaluate (the adjusted logits are the
training-time device that makes the plain ones balanced).

The counts are those of the set the classifier trains on, real and synthetic images alike, each image
counted by its target row times its sample weight (`class_counts`): the prior these losses correct
is the one the optimiser sees, and a GAN group that fills the rare classes has less left to correct.
"""

import keras
import numpy as np

from tfganaug.synthesis.controls import balanced_class_weights

# Probabilities are clipped as Keras's own categorical cross-entropy clips them before the log.
_EPSILON = 1e-7


def class_counts(targets, sample_weight=None):
    """Images per class as training sees them: the column sums of the target rows, each row times its
    sample weight (a soft row counts fractionally in each class)."""
    targets = np.asarray(targets, np.float64)
    weights = np.ones(len(targets)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    return weights @ targets


def ldam_margins(counts, max_margin=0.5):
    """LDAM's per-class margins C / n_j^(1/4), with C such that the largest (the rarest class's) is `max_margin`."""
    inverse = np.asarray(counts, np.float64) ** -0.25
    return inverse * (max_margin / inverse.max())


def effective_number_weights(counts, beta=0.9999):
    """Class-balanced weights (1 - beta) / (1 - beta^n_j) (Cui et al. 2019), normalised to sum to the class count."""
    weights = (1.0 - beta) / (1.0 - np.power(beta, np.asarray(counts, np.float64)))
    return weights * (len(weights) / weights.sum())


@keras.saving.register_keras_serializable(package="tfganaug")
class RebalancedCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy of scale * (logits + shift - margin * y_true), each example weighted by
    sum_j y_true_j * class_weight_j (the formula of the module docstring).

    The classifiers output probabilities; their logits are taken as log(p), which differs from the
    logits by one constant per row, which the softmax cancels. `class_weight` is a variable so that a
    callback can change it during training (`DeferredReweighting`).

    Args:
        shift, margin, class_weight: per-class vectors (length: the model's outputs).
        scale: the number the adjusted logits are multiplied by.

    Example:
        >>> loss = RebalancedCrossentropy(shift=np.log([0.5, 0.3, 0.2]), margin=[0, 0, 0], class_weight=[1, 1, 1])
    """

    def __init__(self, shift, margin, class_weight, scale=1.0, name="rebalanced_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.shift = np.asarray(shift, np.float32)
        self.margin = np.asarray(margin, np.float32)
        self.scale = float(scale)
        self.class_weight = keras.Variable(np.asarray(class_weight, np.float32), trainable=False,
                                           name="class_weight")

    def adjusted_logits(self, y_true, logits):
        """scale * (logits + shift - margin * y_true): what the softmax of the loss is taken of."""
        return self.scale * (logits + self.shift - self.margin * y_true)

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, "float32")
        logits = keras.ops.log(keras.ops.clip(keras.ops.cast(y_pred, "float32"), _EPSILON, 1.0))
        adjusted = self.adjusted_logits(y_true, logits)
        per_example = keras.losses.categorical_crossentropy(y_true, adjusted, from_logits=True)
        return per_example * keras.ops.sum(y_true * self.class_weight, axis=-1)

    def get_config(self):
        return {**super().get_config(), "shift": self.shift.tolist(), "margin": self.margin.tolist(),
                "class_weight": keras.ops.convert_to_numpy(self.class_weight).tolist(), "scale": self.scale}


class DeferredReweighting(keras.callbacks.Callback):
    """DRW: the loss's class weights are 1 before epoch `switch_epoch` (counted from 0) and `weights` from it on."""

    def __init__(self, loss, switch_epoch, weights):
        super().__init__()
        self.loss, self.switch_epoch = loss, switch_epoch
        self.weights = np.asarray(weights, np.float32)

    def on_epoch_begin(self, epoch, logs=None):
        self.loss.class_weight.assign(self.weights if epoch >= self.switch_epoch else np.ones_like(self.weights))


def rebalancing_loss(kind, counts, epochs, *, tau=1.0, max_margin=0.5, scale=1.0, beta=0.9999, drw_epoch=None):
    """(the Keras loss, its callbacks) of re-balancing `kind` for a classifier trained `epochs` epochs on
    a set with `counts` images per output (`class_counts`).

    Args:
        kind: "class_weight" (N / (K n_j), `balanced_class_weights`), "logit_adjustment" (shift tau * log(n_j / N),
            Menon et al. 2021), "balanced_softmax" (shift log n_j, Ren et al. 2020) or "ldam_drw" (margins
            `ldam_margins`, logits times `scale`, from `drw_epoch` (default 80% of `epochs`, the paper's
            160 of 200) weights `effective_number_weights`; Cao et al. 2019).

    A class without images (never a target) is counted as the rarest one, so every term stays finite.
    Keras averages the weighted losses over the batch, as its `class_weight` does (PyTorch's weighted
    cross-entropy of the LDAM-DRW code divides by the weights' sum instead).
    """
    counts = np.asarray(counts, np.float64)
    if not (counts > 0).any():
        raise ValueError("rebalancing_loss needs a training set with at least one image")
    counts = np.where(counts > 0, counts, counts[counts > 0].min())
    zeros, ones = np.zeros_like(counts), np.ones_like(counts)
    if kind == "class_weight":
        weights = balanced_class_weights(counts)
        return RebalancedCrossentropy(zeros, zeros, [weights[c] for c in range(len(counts))]), []
    if kind == "logit_adjustment":
        return RebalancedCrossentropy(tau * np.log(counts / counts.sum()), zeros, ones), []
    if kind == "balanced_softmax":
        return RebalancedCrossentropy(np.log(counts), zeros, ones), []
    if kind == "ldam_drw":
        loss = RebalancedCrossentropy(zeros, ldam_margins(counts, max_margin), ones, scale=scale)
        switch = int(0.8 * epochs) if drw_epoch is None else drw_epoch
        return loss, [DeferredReweighting(loss, switch, effective_number_weights(counts, beta))]
    raise ValueError(f"unknown loss type {kind!r}; choose class_weight, logit_adjustment, balanced_softmax or ldam_drw")
