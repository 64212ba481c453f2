"""Optimizers that compute what Keras's do, faster on CPU."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfganaug")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose update runs as TensorFlow's fused `ResourceApplyAdam` kernel: one
    op per variable where Keras 3's Adam runs a dozen element-wise ones (the same update:
    m += (g - m)(1 - beta_1), v += (g^2 - v)(1 - beta_2), w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m / (sqrt(v) + epsilon)). `bench/classifier_step.py` measured the study's MLP 1.19x faster per
    step with it (docs/benchmarks/classifier_step.json). Falls back to Keras's update for AMSGrad and
    sparse gradients.

    Example:
        model.compile(optimizer=FusedAdam(1e-3), loss="categorical_crossentropy")
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(m), v=_handle(v),
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step), beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype), beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable (under a strategy's update: this device's copy)."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle
