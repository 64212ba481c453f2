"""Spectral normalization (Miyato et al. 2018) as layers: the weight divided by its largest singular value.

The division happens inside the forward computation, so the trainable weight
stays what the optimizer made it and the gradient flows through the
normalization (the paper's formulation). Keras's own `SpectralNormalization`
wrapper instead overwrites the kernel with its normalized value at every
training call (measured against these layers in `bench/spectral_norm.py`).

The singular value is estimated by power iteration: each training call takes
one step from the vector `sn_u` of the previous call and stores the new one
(a non-trainable weight: saved, restored and resumed with the model). One step
from a random vector underestimates the singular value by ~20% (so the first
steps' discriminator is not Lipschitz-1), so the layer's build first runs
`WARMUP_ITERATIONS` steps on its initial kernel. Every
replica computes the same step from the same mirrored weights, so `sn_u` stays
identical across replicas. Inference uses the stored vector without updating it.

Under a mixed-precision policy the power iteration and the division run in float32 on the
float32 weights (the layers do not autocast their variables): a bfloat16 iteration keeps
3 significant digits of sigma. Only the convolution or matmul itself runs in the compute dtype.
"""

import keras
from keras import ops


def _unit(x):
    return x / ops.sqrt(ops.sum(ops.square(x)) + 1e-12)


class SpectralNorm:
    """Mixin for a layer with a weight `self.kernel` whose last axis is the output: adds `sn_u` and
    `normalized_kernel(training)`."""

    power_iterations = 1
    # Steps at build: within 2% of the largest singular value for glorot-initialised kernels up to
    # 3x3x128x128 (one step: 18-33% below it).
    WARMUP_ITERATIONS = 50

    def __init__(self, *args, **kwargs):
        # float32 weights inside a mixed-precision model (Keras autocasts a layer called alone regardless).
        super().__init__(*args, **{**kwargs, "autocast": False})

    def build(self, input_shape=None):
        super().build(input_shape)
        self._add_sn_vector()

    def _add_sn_vector(self):
        # A random start (not zeros, which power iteration cannot leave); the initializer is seeded
        # like every other weight by keras.utils.set_random_seed.
        self.sn_u = self.add_weight(shape=(self.kernel.shape[-1],), initializer=keras.initializers.RandomNormal(),
                                    trainable=False, name="sn_u")
        u, _ = self._power_iteration(self.WARMUP_ITERATIONS)
        self.sn_u.assign(ops.cast(u, self.sn_u.dtype))

    def _matrix(self):
        return ops.reshape(self.kernel, (-1, self.kernel.shape[-1]))

    def _power_iteration(self, steps):
        """(u, v) after `steps` power-iteration steps from `sn_u` on the kernel as a matrix [fan-in, out]."""
        matrix = self._matrix()
        u = ops.cast(self.sn_u, matrix.dtype)
        v = None
        for _ in range(steps):
            v = _unit(ops.matmul(matrix, u))
            u = _unit(ops.matmul(ops.transpose(matrix), v))
        return u, v

    # Dense, Conv2D and Embedding save only their own weights by position (for quantization);
    # the generic Layer methods save every weight, `sn_u` included, in the same positions.
    def save_own_variables(self, store):
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)

    def _bias_and_activation(self, outputs):
        if self.use_bias:
            outputs = outputs + ops.cast(self.bias, outputs.dtype)
        return self.activation(outputs) if self.activation is not None else outputs

    def _compute(self, x):
        """`x` in the layer's compute dtype (bfloat16 or float16 under a mixed policy)."""
        return ops.cast(x, self.compute_dtype)

    def normalized_kernel(self, training=False):
        """The kernel divided by its estimated largest singular value; in training, `sn_u` takes one more
        power-iteration step."""
        matrix = self._matrix()
        u, v = self._power_iteration(self.power_iterations)
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        sigma = ops.sum(v * ops.matmul(matrix, u))
        if training:
            self.sn_u.assign(ops.cast(u, self.sn_u.dtype))
        return self.kernel / sigma


@keras.saving.register_keras_serializable(package="tfganaug")
class SNConv2D(SpectralNorm, keras.layers.Conv2D):
    """`keras.layers.Conv2D` with a spectrally normalized kernel (channels-last)."""

    def call(self, inputs, training=False):
        kernel = self._compute(self.normalized_kernel(training))
        outputs = ops.conv(self._compute(inputs), kernel, strides=self.strides, padding=self.padding,
                           dilation_rate=self.dilation_rate, data_format=self.data_format)
        return self._bias_and_activation(outputs)


@keras.saving.register_keras_serializable(package="tfganaug")
class SNDense(SpectralNorm, keras.layers.Dense):
    """`keras.layers.Dense` with a spectrally normalized kernel."""

    def call(self, inputs, training=False):
        kernel = self._compute(self.normalized_kernel(training))
        return self._bias_and_activation(ops.matmul(self._compute(inputs), kernel))


@keras.saving.register_keras_serializable(package="tfganaug")
class SNEmbedding(SpectralNorm, keras.layers.Embedding):
    """`keras.layers.Embedding` whose table [K, D] is spectrally normalized (the projection
    discriminator's class embedding)."""

    @property
    def kernel(self):
        return self.embeddings

    def call(self, inputs, training=False):
        return ops.take(self._compute(self.normalized_kernel(training)), ops.cast(inputs, "int32"), axis=0)

    def compute_output_spec(self, inputs, training=False):
        return super().compute_output_spec(inputs)
