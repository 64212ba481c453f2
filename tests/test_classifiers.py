import keras
import numpy as np
import pytest

from tfganaug.networks.classifiers import build_mlp, build_mobilenet_v2, build_small_cnn, build_vgg16


def _probs(model, shape, n=2):
    x = np.random.default_rng(0).uniform(0, 255, (n,) + shape).astype("float32")
    return np.asarray(model(x, training=False))


def test_mlp_has_the_studys_hidden_sizes_batch_norm_and_dropout():
    model = build_mlp((8, 8, 1), 5)
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [512, 1024, 2048, 5]
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 3
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.2] * 3
    probs = _probs(model, (8, 8, 1))
    assert probs.shape == (2, 5) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_small_cnn_output():
    model = build_small_cnn((12, 12, 3), 4, filters=(4, 8), dense_units=8)
    probs = _probs(model, (12, 12, 3))
    assert probs.shape == (2, 4) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("builder", [build_mobilenet_v2, build_vgg16])
def test_imagenet_networks_take_small_grey_images(builder):
    model = builder((28, 28, 1), 3)
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert backbone.input_shape == (None, 32, 32, 3)  # resized to the 32 px minimum and tiled to RGB
    assert _probs(model, (28, 28, 1)).shape == (2, 3)


def test_vgg_preprocess_is_caffe_bgr_minus_mean():
    model = build_vgg16((32, 32, 3), 2, dense_units=0)
    pre = model.get_layer("vgg_preprocess")
    rgb = np.zeros((1, 1, 1, 3), "float32")
    rgb[..., :] = (10.0, 20.0, 30.0)
    out = np.asarray(pre(rgb))[0, 0, 0]
    assert out == pytest.approx([30 - 103.939, 20 - 116.779, 10 - 123.68])


def test_backbone_weights_load_from_a_local_file(tmp_path):
    reference = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None,
                                               alpha=0.35, pooling="avg")
    path = tmp_path / "mobilenet_notop.weights.h5"
    reference.save_weights(path)
    model = build_mobilenet_v2((32, 32, 3), 2, weights=path, alpha=0.35)
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    for a, b in zip(backbone.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_under_mixed_bfloat16_the_mlps_dense_layers_compute_in_bfloat16_and_the_layers_between_in_float32():
    """Batch norm computes in float32 under any policy; the ReLU and dropout after it stay there (faster
    on CPU than bfloat16 element-wise ops) and each Dense casts its input down for its matmul."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_mlp((8, 8, 1), 5)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    kinds = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Dropout)
    assert [layer.compute_dtype for layer in model.layers if isinstance(layer, keras.layers.Dense)] == \
        ["bfloat16"] * 3 + ["float32"]
    assert {layer.compute_dtype for layer in model.layers if isinstance(layer, kinds)} == {"float32"}
    assert all(layer.variable_dtype == "float32" for layer in model.layers)
    assert model(np.zeros((2, 8, 8, 1), "float32"), training=True).dtype == "float32"
