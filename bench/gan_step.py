"""Milliseconds per GAN training step: through `fit` (the data-efficient recipe: spectral norm where the
pair has it, EMA, DiffAugment, LeCam, logging) against the bare forward/backward work of the same
layers in a plain `tf.function` (spectral norm layers replaced by plain ones; hinge loss and Adam, no
EMA, DiffAugment, LeCam, ADA or logging), in float32 and in mixed_bfloat16; then, in float32, the
full step with one feature switched off at a time (where the rest goes).

Every variant is timed round-robin within each round (bench/timing.py), so a slow phase of the shared
machine hits all alike; reported are median milliseconds per step and ratios taken within rounds.
Target (issue 31): the full step at >= 0.7x the speed of its bare work.

    nice python bench/gan_step.py                                # dcgan and resnet at 28x28, batch 32
    nice python bench/gan_step.py --pairs dcgan resnet resnet+features   # + the features branch (`features` extra)
    nice python bench/gan_step.py --json docs/benchmarks/gan_step.json --repeats 7
    python bench/gan_step.py --pairs mlp-cgan mlp-acgan --batch 128 --json out.json   # the labeling study's pair

The labeling study's pairs (`mlp-cgan`, `mlp-acgan`: experiments/acgan_fashion_mnist.yaml's GAN settings,
none of the recipe's extras) are fed by the run's own pipeline (`gan_dataset`: shuffled keyed batches of
uint8 images), and their bare work is the bare matmul chain: every Dense layer of both networks forward
and backward as in a D step and a G step, with batch norm and activations skipped and no optimizer.
"""

import argparse
import json
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfganaug.config import GANTraining  # noqa: E402
from tfganaug.data.pipeline import gan_dataset, prefetched  # noqa: E402
from tfganaug.distribute import cpu_has_bfloat16  # noqa: E402
from tfganaug.experiment.builders import build_gan  # noqa: E402
from tfganaug.networks.spectral_norm import SNConv2D, SNDense, SNEmbedding  # noqa: E402
from classifier_step import profile, without  # noqa: E402  (bench/classifier_step.py)
from timing import alternating_seconds, machine, paired_speed_ratio, write_json  # noqa: E402  (bench/timing.py)

SHAPE, K = (28, 28, 1), 10
RECIPE = {"model": "cgan", "loss": "hinge", "latent_dim": 64, "diffaugment": ["translation", "cutout"],
          "lecam": 0.3, "ema": {"decay": 0.99}, "beta_1": 0.0}
# The network pairs, at widths that keep a run within minutes on 2 shared cores (the Fashion-MNIST
# recipes use base_filters 32, d_filters [32, 64] for resnet); resnet+features adds the frozen-trunk
# branch of bench/gan_quality.py's features recipe (its bare work: trunk, projections and heads too).
PAIRS = {
    "dcgan": {"network": "dcgan", "base_filters": 32, "d_filters": [32, 64]},
    "resnet": {"network": "resnet", "base_filters": 16, "d_filters": [16, 32]},
    "resnet+features": {"network": "resnet", "base_filters": 16, "d_filters": [16, 32],
                        "features": {"trunk": "vgg16", "input_size": 32, "depths": [0, 1, 2]}},
}
# experiments/acgan_fashion_mnist.yaml's GAN pair: none of RECIPE's extras (bce, no DiffAugment, LeCam or EMA).
STUDY_MLP = {"network": "mlp", "latent_dim": 100, "hidden_units": [512, 1024, 2048], "loss": "bce",
             "diffaugment": [], "lecam": 0.0, "ema": None, "beta_1": 0.5, "beta_2": 0.999,
             "g_learning_rate": 5e-5, "d_learning_rate": 5e-5}
STUDY_PAIRS = {"mlp-cgan": {**STUDY_MLP, "model": "cgan"}, "mlp-acgan": {**STUDY_MLP, "model": "acgan"}}
PAIRS.update(STUDY_PAIRS)
# Features switched off one at a time (float32): the setting that turns each off.
TOGGLES = {"no EMA": {"ema": None}, "no DiffAugment": {"diffaugment": []}, "no LeCam": {"lecam": 0.0}}
PLAIN = {SNConv2D: keras.layers.Conv2D, SNDense: keras.layers.Dense, SNEmbedding: keras.layers.Embedding}


def under_policy(policy, build):
    """`build()` with Keras's global dtype policy set to `policy` (its layers keep it)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        return build()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def full_gan(settings, batch):
    keras.utils.set_random_seed(0)
    return build_gan(GANTraining(**{**RECIPE, **settings, "batch_size": batch}), SHAPE, K, seed=0)


def plain_copy(network):
    """`network` with its spectral-norm layers replaced by the plain Keras layers (same config)."""
    def clone(layer):
        for sn, plain in PLAIN.items():
            if isinstance(layer, sn):
                config = {k: v for k, v in layer.get_config().items() if k != "autocast"}
                return plain.from_config(config)
        return layer.__class__.from_config(layer.get_config())
    return keras.models.clone_model(network, clone_function=clone)


def bare_step(gan):
    """A `tf.function` doing one discriminator and one generator step of `gan`'s layers (hinge, Adam), the
    feature branch's (frozen trunk, fixed projections, trained heads) included where `gan` has one."""
    generator, discriminator = plain_copy(gan.generator), plain_copy(gan.discriminator)
    branch = gan.feature_discriminator  # its heads as built: the branch is one model, not cloned
    d_weights = discriminator.trainable_variables + (branch.trainable_variables if branch is not None else [])
    g_opt, d_opt = keras.optimizers.Adam(2e-4, 0.0), keras.optimizers.Adam(2e-4, 0.0)
    g_opt.build(generator.trainable_variables)
    d_opt.build(d_weights)

    def logits(images, labels):
        """Every real/fake logit of `images`: the discriminator's, then the branch's per depth."""
        out = [tf.reshape(tf.cast(discriminator([images, labels], training=True), tf.float32), [-1])]
        if branch is not None:
            out.append(tf.reshape(tf.cast(branch([images, labels], training=True)[..., 0], tf.float32), [-1]))
        return tf.concat(out, axis=0)

    @tf.function
    def step(real, labels):
        noise = tf.random.normal([tf.shape(real)[0], gan.latent_dim])
        fake = generator([noise, labels], training=True)
        with tf.GradientTape() as tape:
            d_loss = (tf.reduce_mean(tf.nn.relu(1 - logits(real, labels)))
                      + tf.reduce_mean(tf.nn.relu(1 + logits(fake, labels))))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, d_weights), d_weights))
        with tf.GradientTape() as tape:
            fake = generator([noise, labels], training=True)
            g_loss = -tf.reduce_mean(logits(fake, labels))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables), generator.trainable_variables))
        return d_loss, g_loss
    return step


def bare_chain_step(gan):
    """A `tf.function` doing the matmuls of one discriminator and one generator step of `gan`'s networks,
    forward and backward: batch norm and activations skipped, the losses plain sums, no optimizer (every
    gradient the step's optimizers would apply is computed and returned)."""
    skipped = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.LeakyReLU)
    generator, discriminator = without(gan.generator, skipped), without(gan.discriminator, skipped)

    def d_inputs(images, labels):
        return [images, labels] if gan.discriminator_sees_label else [images]

    @tf.function
    def step(real, labels):
        noise = tf.random.normal([tf.shape(real)[0], gan.latent_dim])
        fake = generator([noise, labels], training=True)
        with tf.GradientTape() as tape:
            d_loss = tf.reduce_sum(discriminator(d_inputs(real, labels), training=True)) - tf.reduce_sum(
                discriminator(d_inputs(fake, labels), training=True))
        d_grads = tape.gradient(d_loss, discriminator.trainable_variables)
        with tf.GradientTape() as tape:
            g_loss = tf.reduce_sum(discriminator(d_inputs(generator([noise, labels], training=True), labels),
                                                 training=True))
        g_grads = tape.gradient(g_loss, generator.trainable_variables)
        return d_loss, g_loss, d_grads, g_grads
    return step


def runs_for(name, settings, policy, batch, steps, toggles):
    """{variant: zero-argument callable running `steps` steps}, each traced once already."""
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (batch,) + SHAPE).astype("float32")
    labels = (np.arange(batch) % K).astype("int32")
    # Fed as a run feeds its GAN (`prefetched`: tf.data's autotuning off); with autotuning on, some fits
    # wait on tf.data for whole seconds (bench/fit_step.py).
    data, steps_per_epoch = prefetched(tf.data.Dataset.from_tensors((images, labels)).repeat(steps).cache()), None
    if name in STUDY_PAIRS:  # fed as the study's run feeds it: shuffled keyed batches of uint8 images
        pixels = np.round((images + 1) * 127.5).astype("uint8")
        data = gan_dataset(np.tile(pixels, (steps, 1, 1, 1)), np.tile(labels, steps), batch, seed=0)
        steps_per_epoch = steps
    runs = {}

    def through_fit(model):
        return lambda: model.fit(data, epochs=1, steps_per_epoch=steps_per_epoch, verbose=0)

    variants = {f"{name} {policy} full": settings}
    if toggles and name not in STUDY_PAIRS:
        variants.update({f"{name} {policy} {what}": {**settings, **change} for what, change in TOGGLES.items()})
    for variant, options in variants.items():
        model = under_policy(policy, lambda options=options: full_gan(options, batch))
        runs[variant] = through_fit(model)
        runs[variant]()  # traces
    bare_for = bare_chain_step if name in STUDY_PAIRS else bare_step
    step = under_policy(policy, lambda: bare_for(full_gan(settings, batch)))
    real, label_tensor = tf.constant(images), tf.constant(labels)

    def bare():
        for _ in range(steps):
            outputs = step(real, label_tensor)
        float(outputs[0])  # wait for the last step
    bare()  # traces
    runs[f"{name} {policy} bare"] = bare
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=["dcgan", "resnet"], choices=list(PAIRS),
                        help="resnet+features needs the `features` extra (pip install -e '.[features]')")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds")
    parser.add_argument("--profile", action="store_true",
                        help="also the share of op time by op type of each full step (TensorFlow profiler)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    policies = ["float32", "mixed_bfloat16"]
    runs = {}
    for name in args.pairs:
        for policy in policies:
            runs.update(runs_for(name, PAIRS[name], policy, args.batch, args.steps, toggles=policy == "float32"))
    seconds = alternating_seconds(runs, args.repeats)
    ms = {v: round(1000 * statistics.median(s) / args.steps, 2) for v, s in seconds.items()}
    result = {"settings": {"image_shape": SHAPE, "classes": K, "batch": args.batch, "steps_per_run": args.steps,
                           "rounds": args.repeats, "recipe": RECIPE, "pairs": {n: PAIRS[n] for n in args.pairs},
                           "cpu_has_bfloat16": cpu_has_bfloat16(), "cpu_count": os.cpu_count(),
                           "machine": machine()},
              "ms_per_step": ms, "pairs": {}}
    for name in args.pairs:
        entry = {}
        for policy in policies:
            full = f"{name} {policy} full"
            entry[f"{policy}: full step's speed / its bare work's (target >= 0.7)"] = round(
                paired_speed_ratio(seconds, full, f"{name} {policy} bare"), 3)
        entry["bfloat16 speed-up, full step"] = round(
            paired_speed_ratio(seconds, f"{name} mixed_bfloat16 full", f"{name} float32 full"), 3)
        entry["bfloat16 speed-up, bare work"] = round(
            paired_speed_ratio(seconds, f"{name} mixed_bfloat16 bare", f"{name} float32 bare"), 3)
        if name in STUDY_PAIRS:
            result["pairs"][name] = entry
            continue
        entry["float32 speed-up with one feature off"] = {
            what: round(paired_speed_ratio(seconds, f"{name} float32 {what}", f"{name} float32 full"), 3)
            for what in TOGGLES}
        result["pairs"][name] = entry
    if args.profile:
        result["op_time_shares"] = {v: profile(run, f"/tmp/gan_step_profile/{v.replace(' ', '_')}")
                                    for v, run in runs.items() if v.endswith("full")}
    print(json.dumps({"ms_per_step": ms, "pairs": result["pairs"], **result.get("op_time_shares", {})}, indent=1))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
