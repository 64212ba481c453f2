"""Layers every network here builds the same way."""

import keras

# Small data sets give few steps per run; Keras's default BN momentum (0.99)
# leaves the moving statistics far from the data after a few hundred steps, so
# inference-mode accuracy collapses. 0.9 converges in tens of steps.
BN_MOMENTUM = 0.9

# Network outputs (images, logits, probabilities) are computed in float32 even under a
# mixed-precision policy: losses on float16 logits or tanh outputs lose too much.
OUTPUT_DTYPE = "float32"


def batch_norm():
    """Batch normalization over the *global* batch: under a strategy with several
    replicas the statistics are all-reduced, so 1 and N devices train the same model."""
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=True)
