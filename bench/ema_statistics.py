"""The moving-average generator's batch norms: copied from the live generator, or re-estimated for its
own weights (standing statistics)? Trains one GAN for a few minutes on Fashion-MNIST with 100 images
per class and, every few epochs, scores three samplers with the real-trained classifier (GAN-test)
on the same noise: the live generator, the average with the live generator's statistics (tfganaug
before), and the average with standing statistics (`refresh_ema_statistics`, tfganaug now).

    python bench/ema_statistics.py --minutes 10 --json docs/studies/gan_quality/ema_statistics.json
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gan_quality import CLASSIFIER, DATA, GANS  # noqa: E402  (bench/gan_quality.py)
from tfganaug.config import GANTraining, validate  # noqa: E402
from tfganaug.data.imageset import ImageSet  # noqa: E402
from tfganaug.data.pipeline import gan_dataset, gan_steps  # noqa: E402
from tfganaug.data.pixels import to_uint8  # noqa: E402
from tfganaug.evaluation.gan_evaluation import real_classifier  # noqa: E402
from tfganaug.experiment.builders import build_gan, classifier_recipe, make_splits  # noqa: E402
from tfganaug.gans.noise import draw_noise  # noqa: E402
from tfganaug.training.classifier import evaluate_classifier  # noqa: E402
from timing import write_json  # noqa: E402  (bench/timing.py)


def gan_test(network, classifier, splits, latent_dim, per_class=100):
    labels = np.repeat(np.arange(splits.train.num_classes), per_class).astype("int32")
    images = to_uint8(np.asarray(network([draw_noise(len(labels), latent_dim, 1), labels], training=False)))
    return evaluate_classifier(classifier, ImageSet(images, labels, splits.train.class_names))["accuracy"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--gan", default="cgan-resnet32", choices=[n for n, g in GANS.items() if g.get("ema")])
    parser.add_argument("--every", type=int, default=10, help="epochs between measurements")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    config = validate({"name": "ema", "data": DATA["fashion_mnist_100"], "classifier": CLASSIFIER, "groups": ["baseline"]})
    splits, recipe = make_splits(config.data), classifier_recipe(config)
    classifier = real_classifier(recipe, splits, tempfile.mkdtemp(prefix="ema_statistics_"), print)
    gan = GANTraining(**GANS[args.gan])
    keras.utils.set_random_seed(0)
    model = build_gan(gan, splits.train.image_shape, splits.train.num_classes, 0)
    train, batch = splits.train, gan.batch_size * gan.d_steps
    rows, started, epochs = [], time.time(), 0
    while time.time() - started < 60 * args.minutes:
        model.fit(gan_dataset(train.images, train.labels, batch, 0, first_epoch=epochs), initial_epoch=epochs,
                  epochs=epochs + 1, steps_per_epoch=gan_steps(len(train), batch), verbose=0)
        epochs += 1
        if epochs % args.every:
            continue
        row = {"epoch": epochs, "generator_steps": int(model.g_optimizer.iterations),
               "live": gan_test(model.generator, classifier, splits, gan.latent_dim),
               "average, copied statistics": gan_test(model.ema_generator, classifier, splits, gan.latent_dim)}
        copied = [w.numpy() for w in model.ema_generator.non_trainable_weights]
        model.refresh_ema_statistics(seed=epochs)
        row["average, standing statistics"] = gan_test(model.ema_generator, classifier, splits, gan.latent_dim)
        for weight, value in zip(model.ema_generator.non_trainable_weights, copied):
            weight.assign(value)  # training goes on as it would have
        rows.append(row)
        print(row, flush=True)
    print("\n| epoch | G steps | live | average, copied statistics | average, standing statistics |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['epoch']} | {r['generator_steps']} | {100 * r['live']:.1f}% | "
              f"{100 * r['average, copied statistics']:.1f}% | {100 * r['average, standing statistics']:.1f}% |")
    write_json(args.json, {"command": "python bench/ema_statistics.py " + " ".join(sys.argv[1:]), "gan": args.gan,
                           "settings": GANS[args.gan], "gan_test": rows})


if __name__ == "__main__":
    main()
