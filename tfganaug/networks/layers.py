"""Layers every network here builds the same way."""

import keras

# Small data sets give few steps per run; Keras's default BN momentum (0.99)
# leaves the moving statistics far from the data after a few hundred steps, so
# inference-mode accuracy collapses. 0.9 converges in tens of steps.
BN_MOMENTUM = 0.9

# Network outputs (images, logits, probabilities) are computed in float32 even under a
# mixed-precision policy: losses on float16 logits or tanh outputs lose too much.
OUTPUT_DTYPE = "float32"


# The dtype of the layers between the MLP classifier's Dense layers (batch norm, ReLU, dropout), under any
# policy. Under mixed_bfloat16 batch norm computes in float32 anyway (it casts its input up and its output
# down); kept in float32, the ReLU and dropout after it run on TensorFlow's float32 CPU kernels, faster than
# its bfloat16 ones, and the next Dense casts down once, as batch norm did (docs/performance.md).
ELEMENTWISE_DTYPE = "float32"


def batch_norm(dtype=None):
    """Batch normalization over the *global* batch: under a strategy with several
    replicas the statistics are all-reduced, so 1 and N devices train the same model.
    `dtype`: a dtype (policy) of its own, or None for the global policy."""
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=True, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfganaug")
class ConditionalBatchNorm(keras.layers.Layer):
    """Class-conditional batch normalization (SNGAN / BigGAN generators): synchronized batch
    normalization without its own scale and offset, then a gain and a bias chosen by the class.

    Called on `[features [N, H, W, C], labels int [N]]`; gains start at 1 and biases at 0,
    so an untrained layer is plain batch normalization.

    Args:
        num_classes: K, rows of the gain and bias tables.
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.norm = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, center=False, scale=False, synchronized=True)

    def build(self, input_shape):
        features_shape = input_shape[0]
        self.norm.build(features_shape)
        channels = features_shape[-1]
        self.gain = self.add_weight(shape=(self.num_classes, channels), initializer="ones", name="gain")
        self.bias = self.add_weight(shape=(self.num_classes, channels), initializer="zeros", name="bias")

    def call(self, inputs, training=None):
        features, labels = inputs
        labels = keras.ops.cast(labels, "int32")
        normalized = self.norm(features, training=training)
        gain = keras.ops.take(self.gain, labels, axis=0)[:, None, None, :]
        bias = keras.ops.take(self.bias, labels, axis=0)[:, None, None, :]
        return normalized * keras.ops.cast(gain, normalized.dtype) + keras.ops.cast(bias, normalized.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="tfganaug")
class GlobalSumPooling2D(keras.layers.Layer):
    """Sum over the spatial axes, [N, H, W, C] -> [N, C] (SNGAN's discriminator pools by summing)."""

    def call(self, inputs):
        return keras.ops.sum(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
