"""bfloat16 on CPUs that have it: every GAN, the CycleGAN and the classifier train under Keras's
mixed_bfloat16 policy with float32 variables, statistics and outputs, and close to float32."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from replicas import build_gan, gan_data, train_classifier, train_cyclegan  # see conftest.py
from tfganaug import distribute
from tfganaug.distribute import cpu_has_bfloat16, precision_policy
from tfganaug.errors import TrainingDiverged
from tfganaug.serving.export import ExportedGenerator, export_generator


@pytest.fixture
def policy():
    """Sets Keras's global policy for the test; float32 again afterwards."""
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy("float32")


def _one_step(case, policy_name, set_policy):
    set_policy(policy_name)
    model = build_gan(case)
    logs = model.fit(gan_data().take(1), epochs=1, verbose=0).history
    return model, {k: v[-1] for k, v in logs.items()}


# resnet: spectral norm, class-conditional batch norm, the moving average and LeCam; acgan: WGAN-GP's
# inner gradient and every DiffAugment transform; dagan: its pair discriminator.
@pytest.mark.parametrize("case", ["cgan-resnet", "acgan", "dagan"])
def test_a_bfloat16_gan_step_is_finite_close_to_float32_and_keeps_float32_state(case, policy):
    reference, expected = _one_step(case, "float32", policy)
    model, logs = _one_step(case, "mixed_bfloat16", policy)
    assert model.generator.layers[1].compute_dtype == "bfloat16"  # it did run in bfloat16
    for name, value in logs.items():
        assert np.isfinite(value) and value == pytest.approx(expected[name], rel=0.03, abs=0.01), name
    # Every variable stays float32: weights, batch-norm statistics, the moving average, spectral norm's
    # vectors, LeCam's averages and both optimizers' slots.
    variables = model.weights + model.g_optimizer.variables + model.d_optimizer.variables
    assert {v.dtype for v in variables if v.dtype != "int64"} == {"float32"}  # int64: the step counters
    for ours, theirs in zip(model.weights, reference.weights):
        np.testing.assert_allclose(ours, theirs, atol=0.02, err_msg=ours.path)
    images = model.generate(**({"labels": [0, 1]} if model.conditional else {"n": 2}), seed=0)
    assert images.dtype == np.float32


def test_a_bfloat16_generator_is_exported_with_float32_images(tmp_path, policy):
    model, _ = _one_step("cgan-resnet", "mixed_bfloat16", policy)
    spec = {"gan": {"model": "cgan"}, "image_shape": [8, 8, 1], "class_names": ["a", "b", "c"]}
    served = ExportedGenerator(export_generator(model, spec, tmp_path, "bf16")).generate(labels=[0, 2], seed=3)
    assert served.dtype == np.float32 and served.shape == (2, 8, 8, 1)


def test_spectral_norm_iterates_in_float32_under_bfloat16(policy):
    policy("mixed_bfloat16")
    model = build_gan("cgan-resnet")
    layer = next(l for l in model.discriminator._flatten_layers() if hasattr(l, "sn_u") and len(l.kernel.shape) == 4)
    kernel = np.asarray(layer.kernel).reshape(-1, layer.kernel.shape[-1])
    u = np.asarray(layer.sn_u)
    model.discriminator([tf.zeros((2, 8, 8, 1)), tf.constant([0, 1])], training=True)  # one step, in bfloat16
    v = kernel @ u / np.linalg.norm(kernel @ u)
    expected = kernel.T @ v / np.linalg.norm(kernel.T @ v)  # the step in float32 (bfloat16 is ~1e-3 off)
    np.testing.assert_allclose(np.asarray(layer.sn_u), expected, atol=2e-5)
    assert layer.sn_u.dtype == "float32"


@pytest.mark.parametrize("train", [train_classifier, train_cyclegan], ids=["classifier", "cyclegan"])
def test_the_classifier_and_the_cyclegan_train_in_bfloat16_close_to_float32(train, policy):
    policy("float32")
    _, expected, history32 = train()
    policy("mixed_bfloat16")
    _, weights, history = train()
    for key, values in history.items():
        assert np.all(np.isfinite(values)), key
        np.testing.assert_allclose(values, history32[key], rtol=0.05, atol=0.02, err_msg=key)
    assert all(w.dtype == np.float32 for w in weights)
    assert max(float(np.abs(a - b).max()) for a, b in zip(weights, expected)) < 0.05


def test_a_gan_that_diverges_in_bfloat16_says_so(tmp_path, policy):
    from tfganaug.training.gan_fit import train_gan

    policy("mixed_bfloat16")
    model = build_gan("cgan")
    kernel = model.discriminator.trainable_weights[0]
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    spec = {"gan": {"model": "cgan"}, "image_shape": [8, 8, 1], "class_names": ["a", "b", "c"], "seed": 0}
    with pytest.raises(TrainingDiverged, match=r"runtime.mixed_precision: off; it trained in mixed_bfloat16"):
        train_gan(model, gan_data(), epochs=1, folder=tmp_path, spec=spec, seed=0, verbose=0, class_names=["a", "b", "c"])


def test_auto_precision_reads_the_cpu_flags(tmp_path, monkeypatch):
    with_amx, plain = tmp_path / "amx", tmp_path / "plain"
    with_amx.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n")
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert cpu_has_bfloat16(with_amx) and not cpu_has_bfloat16(plain) and not cpu_has_bfloat16(tmp_path / "none")
    monkeypatch.setattr(distribute, "cpu_has_bfloat16", lambda: True)
    assert precision_policy("auto") == "mixed_bfloat16"
    monkeypatch.setattr(distribute, "AUTO_BFLOAT16", False)
    assert precision_policy("auto") == "float32"
    monkeypatch.setattr(distribute, "AUTO_BFLOAT16", True)
    monkeypatch.setattr(distribute, "cpu_has_bfloat16", lambda: False)
    assert precision_policy("auto") == "float32"
    assert precision_policy("off") == "float32" and precision_policy("mixed_float16") == "mixed_float16"


def test_a_run_records_the_precision_each_model_trained_in(tmp_path, npz_file):
    """results.json's runs and gan.json name the precision they trained in; a rerun in another precision
    reuses them (the runtime is not part of the run keys) and keeps naming the one they trained in."""
    import json

    import yaml

    from tests.conftest import tiny_config
    from tfganaug.cli import main

    gan = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 6,
           "sample_every": 0}
    raw = tiny_config(npz_file, groups=[{"type": "gan", "gan": gan}], output={"gan_metrics": False},
                      runtime={"mixed_precision": "mixed_bfloat16"})
    path, run = tmp_path / "exp.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(run)]) == 0
    path.write_text(yaml.safe_dump({**raw, "groups": ["baseline", *raw["groups"]], "runtime": {"mixed_precision": "off"}}))
    assert main(["train", str(path), "--out", str(run), "--overwrite"]) == 0  # a group more: another config
    precision = {r["group"]: r["precision"] for r in json.loads((run / "results.json").read_text())["runs"]}
    assert precision == {"baseline": "float32", "acgan-pseudo_label": "mixed_bfloat16"}
    (spec,) = run.glob("gans/acgan-*/gan.json")
    assert json.loads(spec.read_text())["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # the run put the policy back
