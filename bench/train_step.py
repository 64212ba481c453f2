"""Images per second of one ACGAN training step through `keras.Model.fit`, against a plain
`tf.function` loop of the same networks and the same losses, measured alternately in one run.

Both read the batches from the pipeline tfganaug trains its GANs with
(`tfganaug.data.pipeline.gan_dataset`, uint8 images in memory). The ratio fit / plain
is what matters (target >= 0.95: the Keras structure of the GAN classes must cost
nothing): the median over rounds of the two sides' speed ratio in the same round.
Absolute figures depend on the machine and its load.

    python bench/train_step.py                      # DCGAN pair, 28x28x1, batch 64
    python bench/train_step.py --network mlp --batch 128
"""

import argparse
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfganaug.data.pipeline import gan_dataset  # noqa: E402
from tfganaug.gans import ACGAN  # noqa: E402
from tfganaug.networks import GAN_NETWORKS  # noqa: E402
from timing import alternating_seconds, paired_speed_ratio, write_json  # noqa: E402  (bench/timing.py)


def networks(args):
    """A fresh (generator, discriminator) pair of the asked size."""
    build_g, build_d = GAN_NETWORKS[args.network]
    shape = (args.image_size, args.image_size, args.channels)
    if args.network == "mlp":
        g_kw, d_kw = {"hidden_units": tuple(args.hidden)}, {"hidden_units": tuple(reversed(args.hidden))}
    else:
        g_kw, d_kw = {"base_filters": args.base_filters}, {"filters": tuple(args.d_filters)}
    return build_g(args.latent_dim, shape, args.classes, **g_kw), build_d(shape, 1 + args.classes, 0, **d_kw)


def dataset(args):
    """Endless batches of random images and labels through tfganaug's GAN pipeline."""
    rng = np.random.default_rng(0)
    n = args.batch * 8
    images = rng.integers(0, 256, (n, args.image_size, args.image_size, args.channels), dtype=np.uint8)
    labels = rng.integers(0, args.classes, n)
    return gan_dataset(images, labels, args.batch, seed=0).repeat()


def fit_runner(args, data):
    keras.utils.set_random_seed(0)
    model = ACGAN(*networks(args), latent_dim=args.latent_dim, num_classes=args.classes, seed=0)
    model.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5),
                  steps_per_execution=args.steps_per_execution)
    model.fit(data, epochs=1, steps_per_epoch=2 * args.steps_per_execution, verbose=0)  # trace

    def run(steps):
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    return run


def plain_runner(args, data):
    """The same networks and ACGAN losses, hand-written, no Keras training machinery."""
    keras.utils.set_random_seed(0)
    generator, discriminator = networks(args)
    g_opt, d_opt = keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5)
    batch, latent = args.batch, args.latent_dim

    def ce(labels, logits):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    @tf.function
    def step(real, labels):
        noise = tf.random.normal([batch, latent])
        with tf.GradientTape() as tape:
            fake = generator([noise, labels], training=True)
            r, f = discriminator(real, training=True), discriminator(fake, training=True)
            d_loss = (tf.reduce_mean(tf.nn.softplus(-r[:, 0])) + tf.reduce_mean(tf.nn.softplus(f[:, 0]))
                      + ce(labels, r[:, 1:]) + ce(labels, f[:, 1:]))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights))
        noise = tf.random.normal([batch, latent])
        with tf.GradientTape() as tape:
            f = discriminator(generator([noise, labels], training=True), training=True)
            g_loss = tf.reduce_mean(tf.nn.softplus(-f[:, 0])) + ce(labels, f[:, 1:])
        g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights))
        return d_loss, g_loss

    iterator = iter(data)
    step(*next(iterator))  # trace

    def run(steps):
        for _ in range(steps):
            d_loss, _ = step(*next(iterator))
        float(d_loss)  # wait for the last step
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", choices=("dcgan", "mlp"), default="dcgan")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--latent-dim", type=int, default=100)
    parser.add_argument("--base-filters", type=int, default=64)
    parser.add_argument("--d-filters", type=int, nargs=2, default=(32, 64))
    parser.add_argument("--hidden", type=int, nargs="+", default=(512, 1024, 2048))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=30, help="timed blocks of each, alternating")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="Keras compile(steps_per_execution=...) for the fit side (steps must be a multiple)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    data = dataset(args)
    runners = {"fit": fit_runner(args, data), "plain": plain_runner(args, data)}
    seconds = alternating_seconds({name: (lambda run=run: run(args.steps)) for name, run in runners.items()},
                                  args.repeats)
    ips = {name: args.steps * args.batch / statistics.median(s) for name, s in seconds.items()}
    result = {"network": args.network, "batch": args.batch, "steps": args.steps, "repeats": args.repeats,
              "images_per_second": {k: round(v, 1) for k, v in ips.items()},
              "ratio_fit_over_plain": round(paired_speed_ratio(seconds, "fit", "plain"), 3)}
    print(f"ACGAN {args.network} step, batch {args.batch}, median of {args.repeats} rounds of {args.steps} steps")
    print(f"  keras fit        {ips['fit']:9.1f} images/s")
    print(f"  plain tf.function{ips['plain']:9.1f} images/s")
    print(f"  ratio fit/plain  {result['ratio_fit_over_plain']:9.3f}   (target >= 0.95)")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
