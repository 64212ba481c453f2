"""The same GAN training step through Keras `fit` and through a plain `tf.function` of its `train_step`,
each in fresh processes: does `fit` itself cost anything, and is the cost the same in every process?

bench/gan_step.py once timed its "full" variants through `fit` on a dataset with tf.data's autotuning on
and found the dcgan float32 step at 0.46x its bare work, with "no EMA" and "no LeCam" 1.5-1.6x faster.
Here one model is stepped through `fit` on the batches a run feeds it (`prefetched`: autotuning off) and
another, identical one (same settings and seed) through `tf.function(gan.train_step)` on the same batch,
round-robin, in each of `--processes` fresh Python processes; four more through `fit`: with a callback
that keeps Keras's batch-end calls in the training thread, as a tfganaug run's BackupAndRestore does;
8 steps per call of Keras's train function; XLA; and the same batches with tf.data's autotuning left on
(tf.data's default). Reported: the step's milliseconds, the process's CPU seconds per wall second
while each runs (2.0: both cores busy), and for `fit` the milliseconds from the epoch's end
(`on_epoch_end`) to `fit` returning.

    nice python bench/fit_step.py --json docs/benchmarks/fit_step.json       # dcgan, float32, 8 processes
    nice python bench/fit_step.py --pair resnet --policy mixed_bfloat16
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def one_process(pair, policy, batch, steps, rounds):
    """Time both paths in this process; returns {path: {"ms": median ms per step, "cpu_per_wall": ...}}."""
    import keras
    import numpy as np
    import tensorflow as tf

    from gan_step import PAIRS, full_gan, under_policy  # noqa: E402  (bench/gan_step.py)
    from tfganaug.data.pipeline import prefetched

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (batch, 28, 28, 1)).astype("float32")
    labels = (np.arange(batch) % 10).astype("int32")
    autotuned = tf.data.Dataset.from_tensors((images, labels)).repeat(steps).cache()  # tf.data's defaults
    data = prefetched(autotuned)  # as a run feeds its GAN: autotuning off
    through_fit, synced, several, xla, tuned, direct = (
        under_policy(policy, lambda: full_gan(PAIRS[pair], batch)) for _ in range(6))

    class BatchEnd(keras.callbacks.Callback):
        """Overrides `on_train_batch_end`, as BackupAndRestore does in a tfganaug run: Keras then calls
        the batch-end callbacks in the training thread instead of a thread pool's."""

        def on_train_batch_end(self, batch, logs=None):
            pass

    class EpochEnd(keras.callbacks.Callback):
        """Notes when the epoch ended (a hook Keras calls in the training thread whatever the callbacks)."""

        def on_epoch_end(self, epoch, logs=None):
            self.at = time.perf_counter()

    several.steps_per_execution = 8  # Keras runs 8 steps per call of its train function (a tf.while_loop)
    xla.jit_compile = True  # Keras's "auto" leaves XLA off on CPU
    step = tf.function(direct.train_step)
    batch_tensors = (tf.constant(images), tf.constant(labels))

    def plain():
        for _ in range(steps):
            logs = step(batch_tensors)
        float(next(iter(logs.values())))  # wait for the last step

    ended = EpochEnd()
    runs = {"fit": lambda: through_fit.fit(data, epochs=1, verbose=0, callbacks=[ended]),
            "fit, batch-end callbacks in the training thread": lambda: synced.fit(data, epochs=1, verbose=0,
                                                                                    callbacks=[BatchEnd(), ended]),
            "fit, steps_per_execution 8": lambda: several.fit(data, epochs=1, verbose=0, callbacks=[ended]),
            "fit, XLA": lambda: xla.fit(data, epochs=1, verbose=0, callbacks=[ended]),
            "fit, tf.data autotuning on": lambda: tuned.fit(autotuned, epochs=1, verbose=0, callbacks=[ended]),
            "tf.function": plain}
    for run in runs.values():
        run()  # traces
    wall, cpu, tail = ({name: [] for name in runs} for _ in range(3))
    for _ in range(rounds):
        for name, run in runs.items():
            used, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            ended.at = None
            run()
            finished = time.perf_counter()
            seconds, after = finished - started, resource.getrusage(resource.RUSAGE_SELF)
            if ended.at is not None:
                tail[name].append(finished - ended.at)
            wall[name].append(seconds)
            cpu[name].append((after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime) / seconds)
    return {name: {"ms": round(1000 * statistics.median(wall[name]) / steps, 1),
                   "cpu_per_wall": round(statistics.median(cpu[name]), 2),
                   **({"ms_after_epoch_end": round(1000 * statistics.median(tail[name]))} if tail[name] else {})}
            for name in runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", default="dcgan", choices=["dcgan", "resnet"])
    parser.add_argument("--policy", default="float32", choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40, help="steps per timed run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_process(args.pair, args.policy, args.batch, args.steps, args.rounds)))
        return
    command = [sys.executable, __file__, "--child", "--pair", args.pair, "--policy", args.policy,
               "--batch", str(args.batch), "--steps", str(args.steps), "--rounds", str(args.rounds)]
    rows = []
    for index in range(args.processes):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"process {index}: {rows[-1]}", flush=True)
    result = {"settings": {**vars(args), "cpu_count": os.cpu_count()}, "processes": rows}
    for path in rows[0]:
        if path != "tf.function":
            result[f"{path}: ms / tf.function ms, per process"] = [
                round(row[path]["ms"] / row["tf.function"]["ms"], 2) for row in rows]
            result[f"{path}: ms from the epoch's end to fit's return, per process"] = [
                row[path]["ms_after_epoch_end"] for row in rows]
        result[f"{path}: median ms"] = round(statistics.median(row[path]["ms"] for row in rows), 1)
    del result["settings"]["child"], result["settings"]["json"]
    print(json.dumps({k: v for k, v in result.items() if k not in ("settings", "processes")}, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
