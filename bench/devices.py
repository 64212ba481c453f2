"""Images per second of each GAN's training step through `fit` on 1 and 2 devices, with and
without XLA, against a plain `tf.function` loop of the same ACGAN networks; and peak memory.

The CPU is split into two logical devices, so "2 devices" is MirroredStrategy over them
(on a GPU machine it would be two GPUs). Throughput variants are timed round-robin in
one process (bench/timing.py) and reported as ratios to the same model's 1-device,
no-XLA step (median of the per-round ratios); the GANs and the plain loop read
tfganaug's own GAN pipeline. Peak memory (resident set size, VmHWM) is measured in a
fresh process per variant (Linux only).

    python bench/devices.py                  # all GANs and the CycleGAN, DCGAN 28x28x1, batch 64
    python bench/devices.py --json out.json
"""

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from timing import alternating_seconds, paired_speed_ratio, write_json  # noqa: E402  (bench/timing.py)

MODELS = ("gan", "cgan", "acgan", "sgan", "dagan", "cyclegan")
# No "2 devices + XLA": Keras cannot XLA-compile a step under MirroredStrategy (variables of one
# replica read from another's device); tfganaug refuses that combination (see distribute.py).
VARIANTS = {"1 device": (1, False), "1 device + XLA": (1, True), "2 devices": (2, False)}


def split_cpu():
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


@functools.lru_cache(maxsize=None)
def strategy_for(devices):
    # One strategy object per device count for the whole process: several MirroredStrategy
    # objects issue colliding collective instances when their models train alternately.
    return (tf.distribute.get_strategy() if devices == 1
            else tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(devices)]))


def build(model, args):
    """A compiled model of the benchmark's size and its endless dataset."""
    from tfganaug.config import CycleGANConfig, GANTraining
    from tfganaug.data.pipeline import gan_dataset, prefetched
    from tfganaug.experiment import build_cyclegan, build_gan

    shape = (args.image_size, args.image_size, 1)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch * 4,) + shape, dtype=np.uint8)
    keras.utils.set_random_seed(0)
    if model == "cyclegan":
        net = build_cyclegan(CycleGANConfig(name="bench", domain_a=[0], domain_b=[1], filters=16, residual_blocks=4,
                                            d_filters=32, d_layers=2), shape, seed=0)
        scaled = images.astype(np.float32) / 127.5 - 1.0
        data = prefetched(tf.data.Dataset.from_tensor_slices((scaled, scaled[::-1])).batch(args.batch).repeat())
    else:
        # No instance noise: the plain loop it is compared with has none.
        net = build_gan(GANTraining(model=model, network="dcgan", base_filters=args.base_filters,
                                    d_filters=tuple(args.d_filters), instance_noise=0.0), shape, args.classes, seed=0)
        data = gan_dataset(images, rng.integers(0, args.classes, len(images)), args.batch, seed=0).repeat()
    return net, data


def runner(model, devices, xla, args):
    with strategy_for(devices).scope():
        net, data = build(model, args)
    net.jit_compile = xla
    net.fit(data, epochs=1, steps_per_epoch=2, verbose=0)  # trace (and compile)

    def run():
        net.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
    return run


def plain_acgan_runner(args):
    """The ACGAN step written as a plain tf.function loop (bench/train_step.py), one device."""
    from train_step import dataset, plain_runner

    ns = argparse.Namespace(network="dcgan", image_size=args.image_size, channels=1, classes=args.classes,
                            latent_dim=100, base_filters=args.base_filters, d_filters=args.d_filters,
                            batch=args.batch, hidden=None)
    run = plain_runner(ns, dataset(ns))
    return lambda: run(args.steps)


def peak_memory_mb(model, variant, args):
    """Peak resident memory of a fresh process that builds `model` and trains it a few steps."""
    out = subprocess.run([sys.executable, __file__, "--memory-of", model, variant, *sys.argv[1:]],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def memory_child(model, variant, args):
    split_cpu()
    devices, xla = VARIANTS[variant]
    runner(model, devices, xla, args)()
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
    peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"peak_mb": round(peak_kb / 1024)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--base-filters", type=int, default=128)
    parser.add_argument("--d-filters", type=int, nargs=2, default=[32, 64])
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="skip the per-variant memory processes")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--memory-of", nargs=2, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.memory_of:
        return memory_child(*args.memory_of, args)
    split_cpu()
    result = {"batch": args.batch, "image_size": args.image_size, "steps": args.steps, "models": {}}
    print(f"{'model':9} {'variant':16} {'images/s':>9} {'vs 1 device':>12} {'peak MB':>8}")
    for model in args.models:
        runs = {variant: runner(model, devices, xla, args) for variant, (devices, xla) in VARIANTS.items()}
        if model == "acgan":
            runs["plain loop"] = plain_acgan_runner(args)  # same networks and losses, no Keras
        seconds = alternating_seconds(runs, args.repeats)
        rows = {}
        for variant, s in seconds.items():
            memory = None if args.no_memory or variant == "plain loop" else peak_memory_mb(model, variant, args)
            rows[variant] = {"images_per_second": round(args.batch * args.steps / statistics.median(s), 1),
                             "vs_1_device": round(paired_speed_ratio(seconds, variant, "1 device"), 2),
                             "peak_mb": memory}
            print(f"{model:9} {variant:16} {rows[variant]['images_per_second']:9.1f} "
                  f"{rows[variant]['vs_1_device']:12.2f} {memory if memory is not None else '-':>8}")
        result["models"][model] = rows
    write_json(args.json, result)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
