"""Trained generators (and CycleGAN translators) as versioned SavedModels: TF Serving's layout,
loadable by plain TensorFlow.

`exported_models/<name>/<version>/` holds a SavedModel (written with
`keras.export.ExportArchive`) whose signatures carry their own pre- and
post-processing, plus `assets.extra/generator.json` (classes, noise size, image
shape). Versions are integers, never overwritten, and appear whole: written
under a temporary name, then renamed.

Signatures of a conditional generator (N = batch, z = noise size):

- `serving_default(label int32 [N], seed int32 [N] or [])` -> `image` uint8 [N, H, W, C],
  `image_float` float32 in [-1, 1]. Sample i's noise is
  `tf.random.stateless_normal([z], seed=[seed[i], 0])`, or `[seed, i]` for a scalar
  seed: the same seed always gives the same image.
- `generate_from_noise(noise float32 [N, z], label int32 [N])` -> the same two outputs.

An unconditional generator has `serving_default(n int32 [], seed int32 [])` (noise
`stateless_normal([n, z], seed=[seed, 0])`) and `generate_from_noise(noise)`.

A CycleGAN has `translate_a_to_b(image uint8 [N, H, W, C])` (also `serving_default`)
and `translate_b_to_a(image)`, each returning `image` (uint8) and `image_float`.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfganaug.data.pixels import tensor_to_signed, tensor_to_uint8
from tfganaug.errors import UserError
from tfganaug.files import atomic_dir, inside
from tfganaug.gans.noise import draw_noise
from tfganaug.training.gan_folder import model_kind, model_label

INFO_FILE = Path("assets.extra") / "generator.json"


def export_name(run_name, spec, with_seed=False):
    """The default model name of an export: `<run>-<model>` ("quickstart-acgan", "study-cyclegan-tshirt"),
    with `-seed<k>` when a run exports the models of several seeds."""
    return f"{run_name}-{model_label(spec)}" + (f"-seed{spec['seed']}" if with_seed else "")


def generator_archive(model):
    """A `keras.export.ExportArchive` of `model.sampling_generator` (the moving average of the generator
    when the GAN keeps one) with the signatures of the module docstring."""
    generator, z = model.sampling_generator, model.latent_dim
    archive = keras.export.ExportArchive()
    archive.track(generator)

    if model.conditional:
        def generate_from_noise(noise, label):
            images = generator([noise, label], training=False)
            return {"image": tensor_to_uint8(images), "image_float": images}

        def serving_default(label, seed):
            n = tf.shape(label)[0]
            # A scalar seed numbers the samples (seed, i); a vector gives each its own (seed_i, 0).
            index = tf.where(tf.equal(tf.rank(seed), 0), tf.range(n), tf.zeros([n], tf.int32))
            pairs = tf.stack([tf.broadcast_to(seed, [n]), index], axis=1)
            noise = tf.map_fn(lambda pair: tf.random.stateless_normal([z], pair), pairs,
                              fn_output_signature=tf.float32)
            return generate_from_noise(tf.reshape(noise, [n, z]), label)

        archive.add_endpoint("serving_default", serving_default, input_signature=[
            tf.TensorSpec([None], tf.int32, name="label"), tf.TensorSpec(None, tf.int32, name="seed")])
        archive.add_endpoint("generate_from_noise", generate_from_noise, input_signature=[
            tf.TensorSpec([None, z], tf.float32, name="noise"), tf.TensorSpec([None], tf.int32, name="label")])
    else:
        def generate_from_noise(noise):
            images = generator([noise], training=False)
            return {"image": tensor_to_uint8(images), "image_float": images}

        def serving_default(n, seed):
            return generate_from_noise(tf.random.stateless_normal(tf.stack([n, z]), tf.stack([seed, 0])))

        archive.add_endpoint("serving_default", serving_default, input_signature=[
            tf.TensorSpec([], tf.int32, name="n"), tf.TensorSpec([], tf.int32, name="seed")])
        archive.add_endpoint("generate_from_noise", generate_from_noise, input_signature=[
            tf.TensorSpec([None, z], tf.float32, name="noise")])
    return archive


def translator_archive(model):
    """A `keras.export.ExportArchive` of a CycleGAN's two generators: `translate_a_to_b` (also
    `serving_default`) and `translate_b_to_a`, each taking `image` uint8 [N, H, W, C]."""
    archive = keras.export.ExportArchive()
    archive.track(model.generator_ab)
    archive.track(model.generator_ba)
    shape = tuple(model.generator_ab.input_shape[1:])

    def endpoint(generator):
        def translate(image):
            images = generator(tensor_to_signed(image), training=False)
            return {"image": tensor_to_uint8(images), "image_float": images}
        return translate

    spec = [tf.TensorSpec((None,) + shape, tf.uint8, name="image")]
    archive.add_endpoint("serving_default", endpoint(model.generator_ab), input_signature=spec)
    archive.add_endpoint("translate_a_to_b", endpoint(model.generator_ab), input_signature=spec)
    archive.add_endpoint("translate_b_to_a", endpoint(model.generator_ba), input_signature=spec)
    return archive


def next_version(folder):
    """1 + the highest integer version folder in `folder` (1 when there is none)."""
    folder = Path(folder)
    versions = [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
    return max(versions, default=0) + 1


def export_generator(model, spec, out_root, name):
    """Write the generator(s) of `model` to `out_root/name/<next version>/`; return that path.

    Args:
        model: a trained GAN from `tfganaug.gans`, or a `CycleGAN` (both translators).
        spec: its `gan.json` content (classes and settings go to `assets.extra/generator.json`).
        out_root: the models folder (TF Serving's `--model_base_path` parent).
        name: the model name (TF Serving's `--model_name`).
    """
    folder = inside(out_root, name)
    path = folder / str(next_version(folder))
    names = list(spec["class_names"])
    if model_kind(spec) == "cyclegan":
        archive = translator_archive(model)
        info = {"model": "cyclegan", "translator": True, "image_shape": list(spec["image_shape"]), "class_names": names,
                "domain_a": [names[c] for c in spec["domain_a"]], "domain_b": [names[c] for c in spec["domain_b"]],
                "signatures": ["serving_default", "translate_a_to_b", "translate_b_to_a"]}
    else:
        archive = generator_archive(model)
        info = {"model": spec["gan"]["model"], "conditional": bool(model.conditional), "latent_dim": model.latent_dim,
                "image_shape": list(spec["image_shape"]), "class_names": names,
                "signatures": ["serving_default", "generate_from_noise"]}
    with atomic_dir(path) as tmp:
        archive.write_out(str(tmp), verbose=False)
        (tmp / INFO_FILE).parent.mkdir(exist_ok=True)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1))
    return path


class ExportedGenerator:
    """An exported generator loaded with `tf.saved_model.load`, with the `generate` API of the GAN classes.

    Args:
        path: a version folder written by `export_generator`.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not (self.path / "saved_model.pb").exists() or not (self.path / INFO_FILE).exists():
            raise UserError(f"{self.path} is not an exported generator (expected saved_model.pb and {INFO_FILE}); "
                            f"give a version folder such as exported_models/<name>/1")
        self.info = json.loads((self.path / INFO_FILE).read_text())
        if self.info.get("translator"):
            raise UserError(f"{self.path} is a CycleGAN translator, not a generator: it has no noise input")
        self.conditional, self.latent_dim = self.info["conditional"], self.info["latent_dim"]
        self.saved_model = tf.saved_model.load(str(self.path))

    def generate(self, labels=None, n=None, seed=None, batch_size=256, truncation=None):
        """Images in [-1, 1] [N, H, W, C] (numpy), from NumPy noise drawn like `GANBase.generate`'s."""
        n = len(labels) if self.conditional else n
        noise = draw_noise(n, self.latent_dim, seed, truncation)
        signature = self.saved_model.signatures["generate_from_noise"]
        out = []
        for start in range(0, n, batch_size):
            inputs = {"noise": tf.constant(noise[start:start + batch_size])}
            if self.conditional:
                inputs["label"] = tf.constant(np.asarray(labels[start:start + batch_size], np.int32))
            out.append(signature(**inputs)["image_float"].numpy())
        return np.concatenate(out)
