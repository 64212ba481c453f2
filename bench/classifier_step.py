"""Images per second of `fit_classifier` against a plain `tf.function` loop of the same model, loss
and optimizer, against that loop with one part taken out at a time (where the time goes), and
against the bare matmul / convolution work of the same shapes, forward and backward.

Every variant runs one epoch over the same images right after each epoch of `fit_classifier`
(a Keras callback runs them), so a slow phase of the machine hits all alike. Reported:
images/s from the median epoch (the first, which traces, left out) and each variant's speed
relative to `fit_classifier`: the median over epochs of the time ratio within the same epoch.
Then one epoch of the plain loop runs under the TensorFlow profiler, and the share of op time
of each op type is printed (Adam's element-wise update shows as Mul/Sqrt/Square/Sub/AddV2).

    python bench/classifier_step.py                    # the study's MLP (batch 128) and the quickstart CNN (batch 64)
    python bench/classifier_step.py --models mlp --epochs 30 --json out.json
    python bench/classifier_step.py --models mlp --policy mixed_bfloat16 --variants "plain loop" "bare matmul/conv chain"

`--policy` sets Keras's global dtype policy before anything is built (mixed_bfloat16: what the studies'
`runtime.mixed_precision: auto` picks on a CPU with AMX or AVX512-BF16); `--variants` times only the
variants named (fit_classifier always), for a shorter sitting.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfganaug.data.pipeline import classifier_dataset, one_hot  # noqa: E402
from tfganaug.networks.classifiers import build_mlp, build_small_cnn  # noqa: E402
from tfganaug.training.classifier import fit_classifier  # noqa: E402
from timing import machine, paired_speed_ratio, write_json  # noqa: E402  (bench/timing.py)

# The Fashion-MNIST study's MLP and the quickstart's small CNN, at their batch sizes.
MODELS = {
    "mlp": (lambda: build_mlp((28, 28, 1), 10), 128),
    "small_cnn": (lambda: build_small_cnn((28, 28, 1), 10, filters=(16, 32), dense_units=64), 64),
}


class Skip(keras.layers.Layer):
    """Passes its input through (takes the arguments batch norm and dropout are called with)."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def without(model, kinds, replace=None):
    """A copy of the functional `model` whose layers of `kinds` are skipped (or `replace(layer)`)."""
    def clone(layer):
        if isinstance(layer, kinds):
            return replace(layer) if replace else Skip(name=layer.name)
        return layer.__class__.from_config(layer.get_config())
    return keras.models.clone_model(model, clone_function=clone)


class FusedAdam:
    """Adam through TensorFlow's fused kernel (`ResourceApplyAdam`: one op per variable), which
    Keras 3's Adam (a dozen element-wise ops per variable) does not use: what fusing would give."""

    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.settings, self.slots = (learning_rate, beta_1, beta_2, epsilon), {}
        self.step = tf.Variable(0.0)

    def apply_gradients(self, pairs):
        pairs = list(pairs)
        if not self.slots:
            with tf.init_scope():
                self.slots = {id(v): (tf.Variable(tf.zeros(v.shape)), tf.Variable(tf.zeros(v.shape)))
                              for _, v in pairs}
        lr, b1, b2, eps = self.settings
        t = self.step.assign_add(1.0)
        for grad, variable in pairs:
            m, v = self.slots[id(variable)]
            tf.raw_ops.ResourceApplyAdam(var=variable.value.handle, m=m.handle, v=v.handle, beta1_power=b1 ** t,
                                         beta2_power=b2 ** t, lr=lr, beta1=b1, beta2=b2, epsilon=eps, grad=grad)


def plain_epoch(model, images, targets, batch_size, optimizer=None, pipeline=True, jit_compile=False):
    """One epoch of a hand-written training loop: the model, categorical cross-entropy and Adam;
    the batches from tfganaug's classifier pipeline (or one constant batch, `pipeline=False`)."""
    optimizer = optimizer or keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.CategoricalCrossentropy()
    steps = -(-len(images) // batch_size)
    fixed = (tf.constant(images[:batch_size], tf.float32), tf.constant(targets[:batch_size]))

    @tf.function(jit_compile=jit_compile)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
        return loss

    def run():
        batches = classifier_dataset(images, targets, batch_size, shuffle_seed=0).take(steps) if pipeline else [fixed] * steps
        for x, y in batches:
            loss = step(x, y)
        float(loss)  # wait for the last step
    return run


def bare_epoch(model, batch_size, steps):
    """One epoch of only the model's chain of matmuls and convolutions (with its pooling and
    reshapes), forward and backward: batch norm, ReLU and dropout skipped, no optimizer, no data."""
    chain = without(model, (keras.layers.BatchNormalization, keras.layers.Dropout, keras.layers.ReLU))
    x = tf.random.normal((batch_size,) + tuple(model.input.shape[1:]))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(chain(x, training=True))
        return tape.gradient(total, chain.trainable_weights)

    def run():
        for _ in range(steps):
            grads = step()
        float(tf.reduce_sum(grads[0]))
    return run


def profile(run, folder):
    """Run `run` under the TensorFlow profiler; return {op type: share of the summed op time} on the
    compute threads (from the trace's XPlane, read with TensorFlow's own protobuf)."""
    import glob
    from collections import Counter

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    tf.profiler.experimental.start(folder)
    run()
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(open(sorted(glob.glob(f"{folder}/**/*.xplane.pb", recursive=True))[-1], "rb").read())
    totals = Counter()
    for plane in space.planes:
        for line in plane.lines:
            if line.name.startswith("tf_Compute"):
                for event in line.events:
                    name = plane.event_metadata[event.metadata_id].name
                    if "::" not in name:  # op kernels (scope:OpType), not the executor's own spans
                        # ParallelFor: a share of some element-wise op's work done on a helper thread.
                        totals[name.rsplit(":", 1)[-1]] += event.duration_ps
    whole = sum(totals.values())
    return {name: round(ps / whole, 3) for name, ps in totals.most_common(12)}


class Interleaved(keras.callbacks.Callback):
    """Times each epoch of `fit` and, after it, one epoch of each of `others` ({name: run})."""

    def __init__(self, others):
        super().__init__()
        self.others, self.seconds = others, {"fit_classifier": [], **{name: [] for name in others}}

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds["fit_classifier"].append(time.perf_counter() - self.started)
        for name, run in self.others.items():
            started = time.perf_counter()
            run()
            self.seconds[name].append(time.perf_counter() - started)


def measure(name, args):
    build, batch_size = MODELS[name]
    rng = np.random.default_rng(0)
    n = batch_size * args.steps
    images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    targets = one_hot(rng.integers(0, 10, n), 10)
    keras.utils.set_random_seed(0)
    others = {
        "plain loop": plain_epoch(build(), images, targets, batch_size),
        "plain, constant batch (no input pipeline)": plain_epoch(build(), images, targets, batch_size, pipeline=False),
        "plain, no dropout": plain_epoch(without(build(), keras.layers.Dropout), images, targets, batch_size),
        "plain, no batch norm": plain_epoch(without(build(), keras.layers.BatchNormalization), images, targets,
                                            batch_size),
        "plain, batch norm not synchronized": plain_epoch(
            without(build(), keras.layers.BatchNormalization,
                    lambda layer: keras.layers.BatchNormalization(**{**layer.get_config(), "synchronized": False})),
            images, targets, batch_size),
        "plain, SGD instead of Adam": plain_epoch(build(), images, targets, batch_size, keras.optimizers.SGD(1e-3)),
        "plain, fused Adam kernel": plain_epoch(build(), images, targets, batch_size, FusedAdam(1e-3)),
        "plain, XLA (jit_compile=True)": plain_epoch(build(), images, targets, batch_size, jit_compile=True),
        "bare matmul/conv chain": bare_epoch(build(), batch_size, args.steps),
    }
    if args.variants:
        others = {name: run for name, run in others.items() if name in args.variants}
    for run in others.values():
        run()  # trace before timing
    timer = Interleaved(others)
    fit_classifier(build(), images, targets, epochs=args.epochs + 1, batch_size=batch_size, learning_rate=1e-3,
                   seed=0, verbose=0, callbacks=[timer])
    seconds = {k: v[1:] for k, v in timer.seconds.items()}  # fit's first epoch traces
    shares = profile(others["plain loop"], f"{args.profile_dir}/{name}") if "plain loop" in others else {}
    return {"batch": batch_size, "policy": args.policy, "images_per_epoch": n, "epochs_timed": args.epochs,
            "plain_loop_op_time_shares": shares,
            "images_per_second": {k: round(n / statistics.median(v), 1) for k, v in seconds.items()},
            "speed_vs_fit_classifier": {k: round(paired_speed_ratio(seconds, k, "fit_classifier"), 3)
                                        for k in seconds}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=tuple(MODELS))
    parser.add_argument("--steps", type=int, default=40, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=15, help="timed epochs (after one that traces)")
    parser.add_argument("--profile-dir", default="/tmp/classifier_step_profile",
                        help="TensorFlow profiler traces of one plain-loop epoch (open with TensorBoard's profile tab)")
    parser.add_argument("--policy", default="float32", choices=("float32", "mixed_bfloat16"),
                        help="Keras's global dtype policy for every model")
    parser.add_argument("--variants", nargs="+", help="time only these variants (their names as printed)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    keras.mixed_precision.set_global_policy(args.policy)
    results = {"machine": machine()}
    for name in args.models:
        results[name] = result = measure(name, args)
        print(f"\n{name}, batch {result['batch']}, {args.policy}, median of {args.epochs} epochs of {args.steps} batches")
        for variant, ips in result["images_per_second"].items():
            print(f"  {variant:44s} {ips:9.1f} images/s   {result['speed_vs_fit_classifier'][variant]:6.3f}x fit")
        print("  plain loop, share of op time by op (TensorFlow profiler): " + ", ".join(
            f"{op} {100 * share:.0f}%" for op, share in result["plain_loop_op_time_shares"].items()))
    write_json(args.json, results)


if __name__ == "__main__":
    main()
