"""tfganaug's spectral normalization against Keras's `SpectralNormalization` wrapper, on the same
small discriminator trained the same way (hinge loss, Adam 2e-4, real images against noise).

Keras's wrapper assigns the normalized kernel to the layer's own kernel at every training call (the
optimizer then updates the already-normalized weight, and no gradient flows through the singular
value); tfganaug's layers divide inside the forward pass (the paper's formulation). Printed for
each: milliseconds per training step (median of alternating rounds), the largest singular value of
every effective weight after training, and the largest gradient norm seen.

    python bench/spectral_norm.py --steps 200
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfganaug.data.animal_mnist import load_animal_mnist  # noqa: E402
from tfganaug.networks.spectral_norm import SNConv2D, SNDense  # noqa: E402
from timing import alternating_seconds, write_json  # noqa: E402  (bench/timing.py)

SHAPE = (28, 28, 1)


def discriminator(kind):
    """Four 3x3 convs (two of stride 2) and a dense logit, every weight spectrally normalized by `kind`."""
    keras.utils.set_random_seed(0)
    conv = (lambda f, s: SNConv2D(f, 3, strides=s, padding="same")) if kind == "tfganaug" else \
        (lambda f, s: keras.layers.SpectralNormalization(keras.layers.Conv2D(f, 3, strides=s, padding="same")))
    dense = SNDense(1) if kind == "tfganaug" else keras.layers.SpectralNormalization(keras.layers.Dense(1))
    x = image = keras.Input(SHAPE)
    for filters, stride in ((32, 1), (32, 2), (64, 1), (64, 2)):
        x = keras.layers.LeakyReLU(0.2)(conv(filters, stride)(x))
    return keras.Model(image, dense(keras.layers.GlobalAveragePooling2D()(x)))


def effective_kernels(model):
    """The weights the forward pass uses, as matrices [fan_in, out]."""
    kernels = []
    for layer in model.layers:
        if isinstance(layer, (SNConv2D, SNDense)):
            kernel = layer.normalized_kernel()
        elif isinstance(layer, keras.layers.SpectralNormalization):
            kernel = layer.layer.kernel  # already normalized in place by the last training call
        else:
            continue
        kernels.append(np.asarray(kernel).reshape(-1, np.asarray(kernel).shape[-1]))
    return kernels


def trainer(kind, images):
    model, optimizer = discriminator(kind), keras.optimizers.Adam(2e-4, 0.0, 0.9)
    norms = []

    @tf.function
    def step(real):
        fake = tf.random.uniform(tf.shape(real), -1, 1)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.relu(1 - model(real, training=True))) + \
                tf.reduce_mean(tf.nn.relu(1 + model(fake, training=True)))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return tf.linalg.global_norm(grads)

    batches = tf.data.Dataset.from_tensor_slices(images).repeat().batch(64).as_numpy_iterator()
    return model, lambda: norms.append(float(step(next(batches)))), norms


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps of each, in rounds of 10")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    images = load_animal_mnist().pool.images[:2048].astype("float32") / 127.5 - 1.0
    runs = {kind: trainer(kind, images) for kind in ("tfganaug", "keras")}
    for _, run, _ in runs.values():
        run()  # trace once, outside the timing
    seconds = alternating_seconds({kind: (lambda run=run: [run() for _ in range(10)]) for kind, (_, run, _) in
                                   runs.items()}, args.steps // 10)
    result = {}
    for kind, (model, _, norms) in runs.items():
        sigmas = [float(np.linalg.svd(k, compute_uv=False)[0]) for k in effective_kernels(model)]
        result[kind] = {"ms_per_step": round(1000 * float(np.median(seconds[kind])) / 10, 2),
                        "largest_singular_values": [round(s, 3) for s in sigmas],
                        "max_gradient_norm": round(max(norms), 3), "last_gradient_norm": round(norms[-1], 3)}
        print(f"{kind:9s} {result[kind]['ms_per_step']:7.2f} ms/step  sigma {result[kind]['largest_singular_values']}  "
              f"max grad norm {result[kind]['max_gradient_norm']}  last {result[kind]['last_gradient_norm']}")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
