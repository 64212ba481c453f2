"""What a GAN's backups cost: the quickstart's GAN trained into its folder by `train_gan` (sample
grids, losses, TensorBoard and backups, as in a run), with a backup after every epoch
(`runtime.backup_seconds: 0`, the only policy before) against the default (30 seconds).

The two policies are timed round-robin (`timing.alternating_seconds`) so that a slow phase of the
machine hits both; the speed ratio is the median of the per-round ratios.

    python bench/gan_backups.py --epochs 40 --repeats 3 --json docs/studies/quickstart_gan/backups.json
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import yaml  # noqa: E402

from tfganaug.config import GANTraining, RuntimeConfig, validate  # noqa: E402
from tfganaug.data.pipeline import gan_dataset, gan_steps  # noqa: E402
from tfganaug.experiment.builders import build_gan, make_splits  # noqa: E402
from tfganaug.training.gan_fit import train_gan  # noqa: E402
from timing import alternating_seconds, paired_speed_ratio, write_json  # noqa: E402  (bench/timing.py)

QUICKSTART = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.yaml"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40, help="epochs of each training (the quickstart's: 120)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    quickstart = yaml.safe_load(QUICKSTART.read_text())
    config = validate({"name": "gan_backups", "data": quickstart["data"], "classifier": quickstart["classifier"],
                       "groups": ["baseline"]})
    gan_group = next(g for g in quickstart["groups"] if isinstance(g, dict) and g.get("type") == "gan")
    gan = GANTraining(**gan_group["gan"])
    train = make_splits(config.data).train
    scratch = Path(tempfile.mkdtemp(prefix="gan_backups_"))
    default = RuntimeConfig().backup_seconds

    def run(seconds):
        def train_once():
            keras.utils.set_random_seed(0)
            model = build_gan(gan, train.image_shape, train.num_classes, 0)
            batch = gan.batch_size * gan.d_steps
            data = gan_dataset(train.images, train.labels, batch, 0)
            folder = Path(tempfile.mkdtemp(dir=scratch))
            train_gan(model, data, epochs=args.epochs, folder=folder, spec={}, seed=0, class_names=train.class_names,
                      sample_every=gan.sample_every, verbose=0, backup_seconds=seconds,
                      steps_per_epoch=gan_steps(len(train), batch))
        return train_once

    runs = {"every epoch": run(0), f"every {default:g} s": run(default)}
    seconds = alternating_seconds(runs, args.repeats)
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    ratio = paired_speed_ratio(seconds, f"every {default:g} s", "every epoch")
    for name, median in medians.items():
        print(f"{name}: median {median:.1f} s for {args.epochs} epochs ({median / args.epochs:.3f} s per epoch)")
    print(f"speed-up of the default: {ratio:.2f}x (median of {args.repeats} paired rounds)")
    write_json(args.json, {"command": "python bench/gan_backups.py " + " ".join(sys.argv[1:]), "gan": gan_group["gan"],
                           "epochs": args.epochs, "seconds": seconds, "medians": medians, "speed_up": ratio})


if __name__ == "__main__":
    main()
