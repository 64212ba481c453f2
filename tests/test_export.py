"""Exported generators: versioned SavedModels whose signatures match Keras, load without tfganaug, and serve."""

import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfganaug.config import GANTraining
from tfganaug.experiment import build_gan
from tfganaug.serving.export import INFO_FILE, export_generator, next_version

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["a", "b", "c"]


def _trained(model_name):
    keras.utils.set_random_seed(0)
    model = build_gan(GANTraining(model=model_name, network="mlp", latent_dim=4, hidden_units=[8]), (8, 8, 1), 3, 0)
    rng = np.random.default_rng(0)
    model.fit(rng.uniform(-1, 1, (16, 8, 8, 1)).astype("float32"), np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
    spec = {"gan": {"model": model_name}, "image_shape": [8, 8, 1], "class_names": CLASSES}
    return model, spec


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("exported_models")
    models = {name: _trained(name) for name in ("acgan", "gan")}
    paths = {name: export_generator(model, spec, root, f"tiny-{name}") for name, (model, spec) in models.items()}
    return models, paths, root


def test_versions_count_up_and_never_overwrite(exported, tmp_path):
    models, paths, root = exported
    assert paths["acgan"] == root / "tiny-acgan" / "1"
    model, spec = models["acgan"]
    second = export_generator(model, spec, tmp_path, "m")
    third = export_generator(model, spec, tmp_path, "m")
    assert (second.name, third.name) == ("1", "2") and next_version(tmp_path / "m") == 3
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]  # no temporary folder left
    assert json.loads((second / INFO_FILE).read_text())["class_names"] == CLASSES


def test_signatures_match_the_keras_generator_in_inference_mode(exported):
    models, paths, _ = exported
    loaded = tf.saved_model.load(str(paths["acgan"]))
    model = models["acgan"][0]
    noise = np.random.default_rng(1).standard_normal((5, 4)).astype("float32")
    labels = np.array([0, 1, 2, 2, 0], np.int32)
    out = loaded.signatures["generate_from_noise"](noise=tf.constant(noise), label=tf.constant(labels))
    expected = np.asarray(model.generator([noise, labels], training=False))
    np.testing.assert_allclose(out["image_float"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out["image"].numpy(), np.clip(np.round((expected + 1) * 127.5), 0, 255).astype(np.uint8))

    serve = loaded.signatures["serving_default"]
    a = serve(label=tf.constant([0, 1, 2]), seed=tf.constant(7))["image"].numpy()
    b = serve(label=tf.constant([0, 1, 2]), seed=tf.constant(7))["image"].numpy()
    c = serve(label=tf.constant([0, 1, 2]), seed=tf.constant([7, 8, 9]))["image"].numpy()
    assert a.dtype == np.uint8 and a.shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(a, b)  # same seed, same images
    assert not np.array_equal(a[0], a[1]) or not np.array_equal(a[1], a[2])  # a scalar seed numbers the samples
    assert c.shape == (3, 8, 8, 1)

    unconditional = tf.saved_model.load(str(paths["gan"]))
    out = unconditional.signatures["serving_default"](n=tf.constant(4), seed=tf.constant(1))
    assert out["image"].shape == (4, 8, 8, 1) and out["image_float"].dtype == tf.float32
    noise = np.zeros((2, 4), np.float32)
    np.testing.assert_allclose(unconditional.signatures["generate_from_noise"](noise=tf.constant(noise))["image_float"],
                               models["gan"][0].generator([noise], training=False), atol=1e-5)


LOADER = """
import json, sys
sys.modules["tfganaug"] = None  # importing tfganaug now fails: the model must not need it
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](label=tf.constant([2, 0]), seed=tf.constant([5, 6]))
noise = model.signatures["generate_from_noise"](noise=tf.zeros([1, 4]), label=tf.constant([1]))
print(json.dumps({"image": out["image"].shape.as_list(), "dtype": out["image"].dtype.name,
                  "noise_image": noise["image_float"].shape.as_list()}))
"""


def test_loads_in_plain_tensorflow_without_tfganaug(exported):
    _, paths, _ = exported
    done = subprocess.run([sys.executable, "-c", LOADER, str(paths["acgan"])], capture_output=True, text=True,
                          timeout=300, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"image": [2, 8, 8, 1], "dtype": "uint8",
                                                                 "noise_image": [1, 8, 8, 1]}


def test_saved_model_cli_shows_and_runs_the_signatures(exported, tmp_path):
    _, paths, _ = exported
    cli = Path(sys.executable).with_name("saved_model_cli")
    shown = subprocess.run([str(cli), "show", "--all", "--dir", str(paths["acgan"])], capture_output=True, text=True,
                           timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['generate_from_noise']", "inputs['label']",
                 "inputs['seed']", "outputs['image']", "dtype: DT_UINT8"):
        assert text in shown.stdout
    ran = subprocess.run([str(cli), "run", "--dir", str(paths["acgan"]), "--tag_set", "serve",
                          "--signature_def", "serving_default", "--input_exprs", "label=[0,1];seed=3",
                          "--outdir", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert np.load(tmp_path / "out" / "image.npy").shape == (2, 8, 8, 1)


def _readme_json(marker):
    """The JSON code block that follows `marker` in docs/serving.md."""
    text = (ROOT / "docs" / "serving.md").read_text()
    block = re.search(re.escape(marker) + r".*?```json\n(.*?)```", text, re.S)
    return json.loads(block.group(1))


def test_the_documented_rest_payloads_give_the_documented_outputs(exported):
    _, paths, _ = exported
    loaded = tf.saved_model.load(str(paths["acgan"]))
    for name in ("serving_default", "generate_from_noise"):
        request = _readme_json(f"<!-- rest: {name} request -->")
        response = _readme_json(f"<!-- rest: {name} response -->")
        signature = loaded.signatures[request.get("signature_name", "serving_default")]
        noise_size = 4  # the tiny test generator; the documented example is for latent_dim 64
        inputs = dict(request["inputs"])
        if "noise" in inputs:
            inputs["noise"] = [row[:noise_size] + [0.0] * (noise_size - len(row[:noise_size])) for row in inputs["noise"]]
        outputs = signature(**{k: tf.constant(v, dtype=tf.float32 if k == "noise" else tf.int32)
                               for k, v in inputs.items()})
        assert sorted(outputs) == sorted(response["outputs"])
        n = len(request["inputs"]["label"])
        documented = np.asarray(response["outputs"]["image"])
        assert outputs["image"].shape[0] == n == documented.shape[0]
        assert outputs["image"].dtype == tf.uint8 and documented.min() >= 0 and documented.max() <= 255


def test_cyclegan_translators_export_both_directions_matching_keras(tmp_path):
    from tests.conftest import tiny_cyclegan_export

    model, path = tiny_cyclegan_export(tmp_path)
    info = json.loads((path / INFO_FILE).read_text())
    assert info["domain_a"] == ["a"] and info["domain_b"] == ["b", "c"] and info["translator"]
    loaded = tf.saved_model.load(str(path))
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 1)).astype(np.uint8)
    for signature, direction in (("translate_a_to_b", "a_to_b"), ("translate_b_to_a", "b_to_a"),
                                 ("serving_default", "a_to_b")):
        out = loaded.signatures[signature](image=tf.constant(images))
        expected = model.translate(images.astype(np.float32) / 127.5 - 1.0, direction)
        np.testing.assert_allclose(out["image_float"].numpy(), expected, atol=1e-5)
        assert out["image"].dtype == tf.uint8 and out["image"].shape == (3, 8, 8, 1)
    done = subprocess.run([sys.executable, "-c", "import sys; sys.modules['tfganaug'] = None\n"
                           "import tensorflow as tf\nm = tf.saved_model.load(sys.argv[1])\n"
                           "print(m.signatures['translate_b_to_a'](image=tf.zeros([5, 8, 8, 1], tf.uint8))['image'].shape)",
                           str(path)], capture_output=True, text=True, timeout=300, cwd="/")
    assert done.returncode == 0 and done.stdout.strip().endswith("(5, 8, 8, 1)"), done.stderr[-2000:]


def test_the_readme_rest_payloads_of_unconditional_and_translator_signatures(exported, tmp_path):
    from tests.conftest import tiny_cyclegan_export

    _, paths, _ = exported
    request, response = _readme_json("<!-- rest: unconditional request -->"), _readme_json("<!-- rest: unconditional response -->")
    outputs = tf.saved_model.load(str(paths["gan"])).signatures[request["signature_name"]](
        **{k: tf.constant(v, tf.int32) for k, v in request["inputs"].items()})
    assert sorted(outputs) == sorted(response["outputs"]) and outputs["image"].shape[0] == request["inputs"]["n"]
    assert len(response["outputs"]["image"]) == request["inputs"]["n"]

    _, path = tiny_cyclegan_export(tmp_path)
    request, response = _readme_json("<!-- rest: translate request -->"), _readme_json("<!-- rest: translate response -->")
    image = np.asarray(request["inputs"]["image"], np.uint8)
    image = np.tile(image, (1, 4, 4, 1))  # the documented 2x2 image at the tiny model's 8x8
    outputs = tf.saved_model.load(str(path)).signatures[request["signature_name"]](image=tf.constant(image))
    assert sorted(outputs) == sorted(response["outputs"])
    assert outputs["image"].dtype == tf.uint8 and outputs["image"].shape == image.shape
    assert np.asarray(response["outputs"]["image"]).shape == np.asarray(request["inputs"]["image"]).shape
