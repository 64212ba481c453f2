"""Images per second of an Animal-MNIST training input pipeline (batch 128) with no augmentation,
classical Keras augmentation, GeneratorAugmentation at 50% and TranslationAugmentation (half of
one class), against the exported models' own forward passes on the same numbers of images, all
measured alternately in one run.

Target: synthetic augmentation costs no more than the generator itself, i.e.
(pipeline with generator - plain pipeline) / generator alone <= 1.10.

    python bench/augment_pipeline.py
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfganaug.serving.augment import GeneratorAugmentation, TranslationAugmentation  # noqa: E402
from tfganaug.synthesis.classical import build_classical_augmentation  # noqa: E402
from tfganaug.config import CycleGANConfig, GANTraining  # noqa: E402
from tfganaug.data.animal_mnist import load_animal_mnist  # noqa: E402
from tfganaug.experiment import build_cyclegan, build_gan  # noqa: E402
from tfganaug.serving.export import export_generator  # noqa: E402
from timing import alternating_medians, write_json  # noqa: E402  (bench/timing.py)


def pipeline(images, labels, batch, extra=None):
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(images), seed=0).batch(batch)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if extra is not None:
        ds = ds.map(extra, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def drain(dataset):
    for _ in dataset:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    pool = load_animal_mnist().pool
    images, labels = pool.images, pool.labels.astype(np.int32)
    gan = build_gan(GANTraining(model="acgan", network="mlp", latent_dim=64, hidden_units=[256, 512]),
                    pool.image_shape, pool.num_classes, 0)  # quickstart size; speed does not depend on training
    spec = {"gan": {"model": "acgan"}, "image_shape": list(pool.image_shape), "class_names": list(pool.class_names)}
    path = export_generator(gan, spec, tempfile.mkdtemp(), "bench")
    augment = GeneratorAugmentation(path, ratio=0.5)
    classical = build_classical_augmentation(pool.image_shape, seed=0, flip="horizontal", translate=0.1)
    names = list(pool.class_names)
    cfg = CycleGANConfig(name="bench", domain_a=[names[0]], domain_b=[names[1]], filters=16, residual_blocks=4)
    spec = {"cyclegan": cfg.model_dump(mode="json"), "image_shape": list(pool.image_shape), "class_names": names,
            "domain_a": [0], "domain_b": [1]}
    translator = export_generator(build_cyclegan(cfg, pool.image_shape, 0), spec, tempfile.mkdtemp(), "bench-cyclegan")
    translation = TranslationAugmentation(translator, source=0, target=1, fraction=0.5)
    per_batch = max(1, round(0.5 * np.sum(labels == 0) / -(-len(images) // args.batch)))
    serve = augment.generate
    batches = -(-len(images) // args.batch)
    synthetic = round(0.5 * args.batch)

    def generator_alone():  # the same signature on the same number of images, no pipeline
        for _ in range(batches):
            serve(noise=tf.random.normal([synthetic, augment.latent_dim]), label=tf.zeros([synthetic], tf.int32))

    runs = {
        "none": lambda: drain(pipeline(images, labels, args.batch)),
        "classical": lambda: drain(pipeline(images, labels, args.batch, lambda x, y: (classical(x, training=True), y))),
        "generator_50pct": lambda: drain(pipeline(images, labels, args.batch, augment)),
        "generator_alone": generator_alone,
        "translation": lambda: drain(pipeline(images, labels, args.batch, translation)),
        # the same calls as in the pipeline: one per batch, on that batch's share of translated images
        "translator_alone": lambda: [translation.translate(image=tf.constant(images[:per_batch]))
                                     for _ in range(batches)],
    }
    for run in runs.values():  # warm up: tracing, first loads
        run()
    median = alternating_medians(runs, args.repeats)
    ips = {name: len(images) / t for name, t in median.items()}  # real images through the pipeline per second
    overhead = (median["generator_50pct"] - median["none"]) / median["generator_alone"]
    translation_overhead = (median["translation"] - median["none"]) / median["translator_alone"]
    result = {"batch": args.batch, "images": len(images), "repeats": args.repeats,
              "real_images_per_second": {k: round(v, 1) for k, v in ips.items() if not k.endswith("_alone")},
              "generator_alone_images_per_second": round(batches * synthetic / median["generator_alone"], 1),
              "classical_over_none": round(ips["classical"] / ips["none"], 3),
              "generator_over_none": round(ips["generator_50pct"] / ips["none"], 3),
              "generator_pipeline_cost_over_generator_alone": round(overhead, 3),
              "translation_over_none": round(ips["translation"] / ips["none"], 3),
              "translation_pipeline_cost_over_translator_alone": round(translation_overhead, 3)}
    print(f"Animal-MNIST pipeline, {len(images)} images, batch {args.batch}, median of {args.repeats}")
    for name in ("none", "classical", "generator_50pct", "translation"):
        print(f"  {name:16s} {ips[name]:10.0f} real images/s   ({ips[name] / ips['none']:.3f} x none)")
    print(f"  generator alone  {result['generator_alone_images_per_second']:10.0f} generated images/s")
    print(f"  added cost of GeneratorAugmentation / generator alone: {overhead:.3f}  (target <= 1.10)")
    print(f"  added cost of TranslationAugmentation / translator alone: {translation_overhead:.3f}  (target <= 1.10)")
    write_json(args.json, result)


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    main()
