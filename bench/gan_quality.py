"""GAN quality for the same wall-clock budget: the previous best generator (ACGAN on the DCGAN pair
with DiffAugment) against the data-efficient one (CGAN on the residual SNGAN pair with projection,
hinge loss, DiffAugment, LeCam and a moving average of G), each trained for the same minutes on the
same machine in one run, on Fashion-MNIST with 100 training images per class and on the quickstart's
Animal-MNIST split (cat rare).

Printed per data set: FID, KID, precision, recall (classifier features, against the test split),
GAN-train and GAN-test, both also as fractions of the real classifier's test accuracy, and the
smallest per-class spread with the classes flagged as collapsed. The reference row is a second set
of real images held out from training (the split's `extra` images), measured the same way.

Targets (issue 31, for the features recipe): GAN-train >= 0.75x the real classifier's accuracy, recall at
least half the reference's, no class flagged as collapsed, each class recognisable in its sample grid.

A generator name may end in `@bf16`: the same recipe trained under Keras's mixed_bfloat16 policy (fast on
CPUs with AMX / AVX512-BF16). Each data set's figures are merged into the --json file under its name, so
the data sets, and a data set's generators, can run in separate sittings (`merge`); each row records the mean 1-minute load average seen while it
trained (a wall-clock budget is only fair on an otherwise idle machine).

    python bench/gan_quality.py --minutes 30 --data fashion_mnist_100 \
        --gans cgan-dcgan cgan-resnet32-ema99 cgan-resnet32-ema99@bf16 cgan-resnet-features-lite0 \
        --json docs/benchmarks/gan_quality.json --grids docs/benchmarks/gan_quality
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfganaug.config import GANTraining, validate  # noqa: E402
from tfganaug.data.pipeline import gan_dataset, gan_steps  # noqa: E402
from tfganaug.data.pixels import to_signed  # noqa: E402
from tfganaug.reporting.plots import save_sample_grid  # noqa: E402
from tfganaug.evaluation.gan_evaluation import evaluate_generators  # noqa: E402
from tfganaug.experiment.builders import build_gan, classifier_recipe, make_splits  # noqa: E402
from timing import write_json  # noqa: E402  (bench/timing.py)

CLASSIFIER = {"model": "small_cnn", "filters": [16, 32], "dense_units": 64, "epochs": 12, "batch_size": 64,
              "learning_rate": 0.001}
DATA = {
    "fashion_mnist_100": {"source": "fashion_mnist", "samples_per_class": 100, "val_per_class": 50,
                          "extra_per_class": 100, "test_per_class": 500},
    "animal_mnist_quickstart": {"source": "animal_mnist", "samples_per_class": 200, "rare": {2: 0.2},
                                "val_per_class": 50, "extra_per_class": 100},
}
GANS = {
    # A plain CGAN on the DCGAN pair (the issue-31 case's 0.60x at ~2,400 steps): Keras-example defaults.
    "cgan-dcgan": {"model": "cgan", "network": "dcgan", "latent_dim": 64, "base_filters": 64, "d_filters": [32, 64]},
    # The measured best of the old generation (GAN-test 80% but one image per class on Fashion-MNIST).
    "acgan-dcgan-diffaugment": {"model": "acgan", "network": "dcgan", "latent_dim": 64, "base_filters": 64,
                                "d_filters": [32, 64], "diffaugment": ["translation", "cutout"]},
    # The data-efficient recipe: SNGAN pair + projection, hinge, DiffAugment, LeCam 0.3, two D steps, and a
    # moving average with a decay for the few thousand steps a CPU budget allows.
    "cgan-resnet-lecam-ema": {"model": "cgan", "network": "resnet", "latent_dim": 64, "base_filters": 64,
                              "d_filters": [32, 64], "loss": "hinge", "diffaugment": ["translation", "cutout"],
                              "lecam": 0.3, "d_steps": 2, "ema": {"decay": 0.99}, "beta_1": 0.0},
    # Tuning candidates (pick them with --gans): a narrower generator for ~1.6x the steps per minute,
    # one D step per G step, and a slower average with a start.
    "cgan-resnet32": {"model": "cgan", "network": "resnet", "latent_dim": 64, "base_filters": 32,
                      "d_filters": [32, 64], "loss": "hinge", "diffaugment": ["translation", "cutout"],
                      "lecam": 0.3, "ema": {"decay": 0.999, "start": 200}, "beta_1": 0.0},
    # The issue-23 studies' generator (experiments/gan_recipes_*.yaml): cgan-resnet32 with the average's
    # decay 0.99, which follows the live generator within ~100 steps (bench/ema_statistics.py).
    "cgan-resnet32-ema99": {"model": "cgan", "network": "resnet", "latent_dim": 64, "base_filters": 32,
                            "d_filters": [32, 64], "loss": "hinge", "diffaugment": ["translation", "cutout"],
                            "lecam": 0.3, "ema": {"decay": 0.99, "start": 200}, "beta_1": 0.0},
    # The same with the two time-scale update rule (D 4x G's learning rate).
    "cgan-resnet32-ttur": {"model": "cgan", "network": "resnet", "latent_dim": 64, "base_filters": 32,
                           "d_filters": [32, 64], "loss": "hinge", "diffaugment": ["translation", "cutout"],
                           "lecam": 0.3, "ema": {"decay": 0.999, "start": 200}, "beta_1": 0.0,
                           "g_learning_rate": 1e-4, "d_learning_rate": 4e-4},
    # Issue 31's recipe: cgan-resnet32-ema99 plus a second discriminator on frozen pretrained features
    # (gan.features: fixed random projections, a projection head per depth; weights from the `features`
    # extra, never downloaded), with DiffAugment's three transforms before the trunk as in Projected GAN.
    "cgan-resnet-features-lite0": {"model": "cgan", "network": "resnet", "latent_dim": 64, "base_filters": 32,
                                   "d_filters": [32, 64], "loss": "hinge",
                                   "diffaugment": ["color", "translation", "cutout"], "lecam": 0.3,
                                   "ema": {"decay": 0.99, "start": 200}, "beta_1": 0.0,
                                   "features": {"trunk": "efficientnet_lite0", "input_size": 64}},
    "cgan-resnet-features-vgg": {"model": "cgan", "network": "resnet", "latent_dim": 64, "base_filters": 32,
                                 "d_filters": [32, 64], "loss": "hinge",
                                 "diffaugment": ["color", "translation", "cutout"], "lecam": 0.3,
                                 "ema": {"decay": 0.99, "start": 200}, "beta_1": 0.0,
                                 "features": {"trunk": "vgg16", "input_size": 32, "depths": [0, 1, 2]}},
}
DEFAULT_GANS = ["acgan-dcgan-diffaugment", "cgan-resnet-lecam-ema"]


class HeldOutReal:
    """The reference 'generator': real images held out from training, cycled per class."""

    conditional = True

    def __init__(self, images):
        self.by_class = images

    def generate(self, labels=None, seed=None, **_):
        picks = [self.by_class[c][i % len(self.by_class[c])] for i, c in enumerate(labels)]
        return to_signed(np.stack(picks))


def train_for(gan, train, minutes, seed=0, policy="float32"):
    """A GAN trained epoch by epoch under the Keras dtype `policy` until `minutes` have passed:
    (model, {"epochs", "generator_steps", "seconds", "mean_load"})."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        model = build_gan(gan, train.image_shape, train.num_classes, seed)
        batch = gan.batch_size * gan.d_steps
        steps = gan_steps(len(train), batch)
        started, epochs, loads = time.time(), 0, []
        while time.time() - started < 60 * minutes:
            model.fit(gan_dataset(train.images, train.labels, batch, seed, first_epoch=epochs),
                      initial_epoch=epochs, epochs=epochs + 1, steps_per_epoch=steps, verbose=0)
            epochs += 1
            loads.append(os.getloadavg()[0])
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model, {"epochs": epochs, "generator_steps": epochs * steps, "seconds": round(time.time() - started),
                   "mean_load": round(float(np.mean(loads)), 2) if loads else None}


def split_name(name):
    """("recipe", dtype policy) of a --gans entry: "cgan-resnet32@bf16" -> ("cgan-resnet32", "mixed_bfloat16")."""
    recipe, _, precision = name.partition("@")
    return recipe, "mixed_bfloat16" if precision == "bf16" else "float32"


def unknown_names(names, known):
    """The entries of `names` that are not a name of `known`, optionally with "@bf16"."""
    return [n for n in names if split_name(n)[0] not in known or n.partition("@")[2] not in ("", "bf16")]


def save_grid(name, gan_name, model, class_names, folder, per_class=8):
    """A PNG of `per_class` images of each class from `model`: FOLDER/NAME_GAN.png."""
    labels = np.repeat(np.arange(len(class_names)), per_class)
    images = np.asarray(model.generate(labels=labels, seed=0), dtype="float32")
    Path(folder).mkdir(parents=True, exist_ok=True)
    save_sample_grid(images, list(class_names), Path(folder) / f"{name}_{gan_name.replace('@', '_')}.png",
                     title=f"{gan_name} on {name}")


def run(name, data, minutes, log, gans=DEFAULT_GANS, grids=None):
    config = validate({"name": name, "data": data, "classifier": CLASSIFIER, "groups": ["baseline"]})
    splits = make_splits(config.data)
    recipe = classifier_recipe(config)
    cache = Path(tempfile.mkdtemp(prefix="gan_quality_"))
    generators, trained = [], {}
    for gan_name in gans:
        preset, policy = split_name(gan_name)
        model, trained[gan_name] = train_for(GANTraining(**GANS[preset]), splits.train, minutes, policy=policy)
        log(f"{name}: {gan_name} {trained[gan_name]}")
        if grids:
            save_grid(name, gan_name, model, splits.train.class_names, grids)
        generators.append((gan_name, model, {}))
    extra = [splits.extra.images[splits.extra.labels == c] for c in range(splits.extra.num_classes)]
    generators.append(("held-out real images (reference)", HeldOutReal(extra), {}))
    # As many generated images per class as the reference has held-out ones: repeated images would
    # give the reference k-NN balls of radius 0, and a recall of 0.
    metrics = evaluate_generators(generators, splits=splits, recipe=recipe, cache_dir=cache, log=log,
                                  per_class=int(splits.extra.counts().min()))
    real_accuracy = metrics[gans[0]]["real_accuracy"]  # the real-trained classifier's, the same for every entry
    rows = {}
    for gan_name, m in metrics.items():
        spreads = {c: v["spread"] for c, v in m["per_class"].items()}
        rows[gan_name] = {**{k: m["overall"][k] for k in ("fid", "kid", "precision", "recall", "spread")},
                          "gan_train": m["gan_train"], "gan_test": m["gan_test"],
                          "gan_train_of_real": m["gan_train"] / real_accuracy,
                          "gan_test_of_real": m["gan_test"] / real_accuracy,
                          "min_class_spread": min(spreads.values()), "collapsed": m["collapsed"],
                          **trained.get(gan_name, {})}
    return {"real_classifier_accuracy": real_accuracy, "minutes_per_gan": minutes, "gans": rows}


def table(name, result):
    lines = [f"### {name}: real classifier test accuracy {100 * result['real_classifier_accuracy']:.1f}%", "",
             "| generator | epochs | FID | KID | precision | recall | GAN-train (x real) | GAN-test (x real) "
             "| min class spread | collapsed |", "|" + "---|" * 10]
    for gan, r in result["gans"].items():
        lines.append(f"| {gan} | {r.get('epochs', '')} | {r['fid']:.2f} | {r['kid']:.4f} | {r['precision']:.2f} | "
                     f"{r['recall']:.2f} | {100 * r['gan_train']:.1f}% ({r['gan_train_of_real']:.2f}) | "
                     f"{100 * r['gan_test']:.1f}% ({r['gan_test_of_real']:.2f}) | {r['min_class_spread']:.2f} | "
                     f"{', '.join(r['collapsed']) or 'none'} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="training time of each GAN on each data set")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--gans", nargs="+", default=DEFAULT_GANS, metavar="GAN[@bf16]",
                        help=f"the generators to train, of {', '.join(GANS)} (default: the previous best and the "
                             f"data-efficient one); @bf16 trains in mixed_bfloat16")
    parser.add_argument("--json", help="also write the figures to this file (merged by data set)")
    parser.add_argument("--grids", help="save each generator's sample grid in this folder")
    args = parser.parse_args(argv)
    unknown = unknown_names(args.gans, GANS)
    if unknown:
        parser.error(f"unknown generator(s) {', '.join(unknown)}; choose from {', '.join(GANS)}, optionally with @bf16")
    log = lambda line: print(line, flush=True)  # noqa: E731
    command = "python bench/gan_quality.py " + " ".join(sys.argv[1:])
    results = {}
    for name in args.data:
        results[name] = {"command": command, **run(name, DATA[name], args.minutes, log, args.gans, args.grids)}
        print("\n" + table(name, results[name]), flush=True)
        if args.json:  # after each data set: a sitting that ends early keeps what it finished
            old = json.loads(Path(args.json).read_text()) if Path(args.json).exists() else {}
            write_json(args.json, merge(old, results))


def merge(old, new):
    """`new`'s data sets over `old`'s. A data set's rows of generators this sitting did not train are kept
    when its real classifier scored the same and the budget was the same (so the rows compare), each with
    the command that made it; otherwise the older entry goes whole."""
    merged = dict(old)
    for name, entry in new.items():
        before = old.get(name, {})
        comparable = (before.get("real_classifier_accuracy") == entry["real_classifier_accuracy"]
                      and before.get("minutes_per_gan") == entry["minutes_per_gan"])
        rows = {gan: {"command": entry["command"], **row} for gan, row in entry["gans"].items()}
        if comparable:
            kept = {gan: {"command": before["command"], **row} for gan, row in before["gans"].items() if gan not in rows}
            rows = {**kept, **rows}
        merged[name] = {**entry, "gans": rows}
    return merged


if __name__ == "__main__":
    main()
