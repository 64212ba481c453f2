"""Which GAN the quickstart can afford: candidates trained for a fixed number of epochs on the
quickstart's split (Animal-MNIST, cat rare, seed 0), each measured as a run's `gan_metrics.json`
measures it (test split, features of the real-trained classifier): FID, precision, recall,
GAN-train and GAN-test against the real-trained classifier's accuracy, classes flagged as collapsed,
and the seconds of training (`model.fit` alone: a run adds sample grids and a backup per epoch).

Issue 21 asks for GAN-train and GAN-test well above chance (10%) and no collapsed class, within the
quickstart's 10 minutes on 2 cores (three GANs, one per seed, besides 9 classifiers).

    python bench/quickstart_gan.py --json docs/studies/quickstart_gan/candidates.json
    python bench/quickstart_gan.py --candidates mlp-wide-15 narrow-translation-ema-120

A candidate's name may end in `@bf16`: trained under Keras's mixed_bfloat16 policy, as
`runtime.mixed_precision: auto` trains on CPUs with AMX or AVX512-BF16 (bench/gan_quality.py).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import yaml  # noqa: E402

from tfganaug.config import GANTraining, validate  # noqa: E402
from tfganaug.data.pipeline import gan_dataset, gan_steps  # noqa: E402
from tfganaug.evaluation.gan_evaluation import evaluate_generators  # noqa: E402
from tfganaug.experiment.builders import build_gan, classifier_recipe, make_splits  # noqa: E402
from gan_quality import GANS as GAN_QUALITY, split_name, unknown_names  # noqa: E402  (bench/gan_quality.py)
from timing import write_json  # noqa: E402  (bench/timing.py)

QUICKSTART = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.yaml"
WIDE = {"model": "acgan", "network": "mlp", "latent_dim": 64, "hidden_units": [256, 512]}
NARROW = {**WIDE, "hidden_units": [128, 256]}
EMA = {"ema": {"decay": 0.99, "start": 200}}
FAST = {"g_learning_rate": 5e-4, "d_learning_rate": 5e-4}
CANDIDATES = {
    "mlp-wide-15": {**WIDE, "epochs": 15},  # the quickstart's GAN until issue 21
    "mlp-wide-60": {**WIDE, "epochs": 60},
    "mlp-wide-120": {**WIDE, "epochs": 120},
    "cgan-mlp-wide-60": {**WIDE, "model": "cgan", "epochs": 60},
    "dcgan-translation-cutout-12": {"model": "acgan", "network": "dcgan", "latent_dim": 64, "base_filters": 32,
                                    "d_filters": [32, 64], "diffaugment": ["translation", "cutout"], "epochs": 12},
    "mlp-wide-ema-60": {**WIDE, **EMA, "epochs": 60},
    "mlp-wide-hinge-ema-60": {**WIDE, **EMA, "loss": "hinge", "epochs": 60},
    "mlp-wide-translation-60": {**WIDE, "diffaugment": ["translation"], "epochs": 60},
    "mlp-wide-translation-ema-60": {**WIDE, **EMA, "diffaugment": ["translation"], "epochs": 60},
    "mlp-wide-translation-ema-90": {**WIDE, **EMA, "diffaugment": ["translation"], "epochs": 90},
    "mlp-wide-translation-cutout-ema-60": {**WIDE, **EMA, "diffaugment": ["translation", "cutout"], "epochs": 60},
    "mlp-wide-batch32-60": {**WIDE, "batch_size": 32, "epochs": 60},
    "mlp-wide-batch16-40": {**WIDE, "batch_size": 16, "epochs": 40},
    "mlp-wide-lr5e-4-60": {**WIDE, **FAST, "epochs": 60},
    "mlp-wide-lr5e-4-translation-40": {**WIDE, **FAST, "diffaugment": ["translation"], "epochs": 40},
    "mlp-wide-lr5e-4-translation-ema-60": {**WIDE, **FAST, **EMA, "diffaugment": ["translation"], "epochs": 60},
    "narrow-translation-ema-90": {**NARROW, **EMA, "diffaugment": ["translation"], "epochs": 90},
    # The quickstart's GAN since issue 21.
    "narrow-translation-ema-120": {**NARROW, **EMA, "diffaugment": ["translation"], "epochs": 120},
    "narrow-translation-ema-150": {**NARROW, **EMA, "diffaugment": ["translation"], "epochs": 150},
    # Issue 31: the convolutional CGANs of bench/gan_quality.py for about a minute (in bfloat16: @bf16).
    "cgan-dcgan-10": {**GAN_QUALITY["cgan-dcgan"], "epochs": 10},
    "cgan-dcgan-20": {**GAN_QUALITY["cgan-dcgan"], "epochs": 20},
    "cgan-resnet32-ema99-6": {**GAN_QUALITY["cgan-resnet32-ema99"], "epochs": 6},
    "cgan-resnet32-ema99-12": {**GAN_QUALITY["cgan-resnet32-ema99"], "epochs": 12},
}


def measure(candidates, log=print):
    """{candidate: its metrics and training seconds}, each trained with seed 0 on the quickstart's split."""
    quickstart = yaml.safe_load(QUICKSTART.read_text())
    config = validate({"name": "quickstart_gan", "data": quickstart["data"], "classifier": quickstart["classifier"],
                       "groups": ["baseline"]})
    splits, recipe = make_splits(config.data), classifier_recipe(config)
    cache = Path(tempfile.mkdtemp(prefix="quickstart_gan_"))
    results = {}
    for name in candidates:
        candidate, policy = split_name(name)
        gan = GANTraining(**CANDIDATES[candidate])
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        model = build_gan(gan, splits.train.image_shape, splits.train.num_classes, 0)
        batch = gan.batch_size * gan.d_steps
        data = gan_dataset(splits.train.images, splits.train.labels, batch, 0)
        started = time.perf_counter()
        model.fit(data, epochs=gan.epochs, steps_per_epoch=gan_steps(len(splits.train), batch), verbose=0)
        seconds = time.perf_counter() - started
        keras.mixed_precision.set_global_policy("float32")  # the metrics' real classifier: float32, as in candidates.json
        m = evaluate_generators([(name, model, {})], splits=splits, recipe=recipe, cache_dir=cache,
                                log=lambda line: None)[name]
        results[name] = {"seconds": round(seconds), **{k: m["overall"][k] for k in ("fid", "precision", "recall")},
                         "gan_train": m["gan_train"], "gan_test": m["gan_test"], "real_accuracy": m["real_accuracy"],
                         "collapsed": m["collapsed"]}
        log(f"{name}: {table_row(name, results[name])}")
    return results


def table_row(name, r):
    return (f"| {name} | {r['seconds']} | {r['fid']:.2f} | {r['precision']:.2f} | {r['recall']:.2f} | "
            f"{100 * r['gan_train']:.1f}% | {100 * r['gan_test']:.1f}% | {', '.join(r['collapsed']) or 'none'} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), metavar="CANDIDATE[@bf16]",
                        help=f"of {', '.join(CANDIDATES)}")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    unknown = unknown_names(args.candidates, CANDIDATES)
    if unknown:
        parser.error(f"unknown candidate(s) {', '.join(unknown)}; choose from {', '.join(CANDIDATES)}, "
                     "optionally with @bf16")
    results = measure(args.candidates, log=lambda line: print(line, flush=True))
    real = next(iter(results.values()))["real_accuracy"]
    print(f"\nreal-trained classifier: {100 * real:.1f}% test accuracy (chance 10%)\n\n"
          "| candidate | seconds | FID | precision | recall | GAN-train | GAN-test | collapsed |\n|" + "---|" * 8)
    for name, r in results.items():
        print(table_row(name, r))
    write_json(args.json, {"command": "python bench/quickstart_gan.py " + " ".join(sys.argv[1:]), **results})


if __name__ == "__main__":
    main()
