"""Classifier builders. Every model takes float images in 0-255 and outputs class probabilities.

Keeping the rescaling inside the model means one input convention for every
classifier, every augmentation layer and every generator's uint8 output.
"""

import keras
import numpy as np

from tfganaug.networks.layers import ELEMENTWISE_DTYPE, OUTPUT_DTYPE, batch_norm

# Caffe-style ImageNet means (RGB order) used by VGG-16's pretrained weights.
_VGG_MEAN_RGB = (123.68, 116.779, 103.939)


def _head(x, num_classes, dropout, name):
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return keras.layers.Dense(num_classes, activation="softmax", name=f"{name}_probs", dtype=OUTPUT_DTYPE)(x)


def build_mlp(input_shape, num_classes, *, hidden_units=(512, 1024, 2048), dropout=0.2, name="mlp"):
    """The Fashion-MNIST study's MLP: Dense -> batch norm -> ReLU -> dropout per hidden layer, softmax out.
    Under a mixed policy the Dense layers compute in its dtype, the layers between them in float32.

    Args:
        input_shape: (H, W, C).
        num_classes: outputs (K, or K+1 for the all-in-one labeling).
        hidden_units: sizes of the hidden layers.
        dropout: dropout rate between layers.
    """
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    for units in hidden_units:
        x = keras.layers.Dense(units, use_bias=False)(x)
        x = batch_norm(ELEMENTWISE_DTYPE)(x)
        x = keras.layers.ReLU(dtype=ELEMENTWISE_DTYPE)(x)
        if dropout:
            x = keras.layers.Dropout(dropout, dtype=ELEMENTWISE_DTYPE)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=f"{name}_probs", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)


def build_small_cnn(input_shape, num_classes, *, filters=(32, 64), dense_units=128, dropout=0.3, name="small_cnn"):
    """A small CNN: per entry of `filters`, two 3x3 convs with batch norm and a 2x2 max-pool; then dense.

    Args:
        input_shape: (H, W, C).
        num_classes: outputs.
        filters: channels of each conv block.
        dense_units: width of the dense layer before the output (0 for none).
        dropout: dropout before the output layer.
    """
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    for f in filters:
        for _ in range(2):
            x = keras.layers.Conv2D(f, 3, padding="same", use_bias=False)(x)
            x = batch_norm()(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu")(x)
    return keras.Model(inputs, _head(x, num_classes, dropout, name), name=name)


def _to_rgb_at_size(inputs, input_shape, size):
    """Resize to size x size and tile grey to 3 channels, as ImageNet networks need."""
    x = inputs
    if tuple(input_shape[:2]) != (size, size):
        x = keras.layers.Resizing(size, size, name="resize_for_backbone")(x)
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    return x


def _backbone_size(input_shape, input_size):
    # keras.applications need at least 32x32; small images are upsampled to that.
    return int(input_size) if input_size else max(32, int(max(input_shape[:2])))


def build_mobilenet_v2(input_shape, num_classes, *, weights=None, input_size=None, alpha=1.0, dropout=0.2,
                       trainable_backbone=True, name="mobilenet_v2"):
    """MobileNetV2 from `keras.applications` with a new softmax head.

    Args:
        input_shape: (H, W, C); grey images are tiled to RGB.
        num_classes: outputs.
        weights: None (random init) or a local path to no-top ImageNet weights; never downloaded.
        input_size: side the images are resized to (default: the image side, at least 32).
        alpha: width multiplier.
        dropout: dropout before the output layer.
        trainable_backbone: False freezes the backbone (feature extraction).
    """
    size = _backbone_size(input_shape, input_size)
    inputs = keras.Input(input_shape, name="image")
    x = _to_rgb_at_size(inputs, input_shape, size)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="mobilenet_preprocess")(x)
    backbone = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=None,
                                              alpha=alpha, pooling="avg")
    if weights:
        backbone.load_weights(str(weights))
    backbone.trainable = trainable_backbone
    x = backbone(x)
    return keras.Model(inputs, _head(x, num_classes, dropout, name), name=name)


def _caffe_preprocess(name):
    """A frozen 1x1 conv doing VGG's preprocessing: RGB -> BGR and minus the ImageNet mean.

    A plain Keras layer (no Lambda, no custom class) so saved models load anywhere.
    """
    layer = keras.layers.Conv2D(3, 1, trainable=False, name=name)
    layer.build((None, None, None, 3))
    kernel = np.zeros((1, 1, 3, 3), dtype="float32")
    for out_channel, in_channel in enumerate((2, 1, 0)):
        kernel[0, 0, in_channel, out_channel] = 1.0
    layer.set_weights([kernel, -np.asarray(_VGG_MEAN_RGB[::-1], dtype="float32")])
    return layer


def build_vgg16(input_shape, num_classes, *, weights=None, input_size=None, dense_units=256, dropout=0.5,
                trainable_backbone=True, name="vgg16"):
    """VGG-16 from `keras.applications` with a new head (the KDEF part of the DAGAN study).

    Args:
        input_shape: (H, W, C); grey images are tiled to RGB.
        num_classes: outputs.
        weights: None or a local path to no-top ImageNet weights; never downloaded.
        input_size: side the images are resized to (default: the image side, at least 32).
        dense_units: width of the dense layer of the head (0 for none).
        dropout: dropout before the output layer.
        trainable_backbone: False freezes the backbone.
    """
    size = _backbone_size(input_shape, input_size)
    inputs = keras.Input(input_shape, name="image")
    x = _to_rgb_at_size(inputs, input_shape, size)
    x = _caffe_preprocess("vgg_preprocess")(x)
    backbone = keras.applications.VGG16(input_shape=(size, size, 3), include_top=False, weights=None, pooling="avg")
    if weights:
        backbone.load_weights(str(weights))
    backbone.trainable = trainable_backbone
    x = backbone(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu")(x)
    return keras.Model(inputs, _head(x, num_classes, dropout, name), name=name)


CLASSIFIER_BUILDERS = {
    "mlp": build_mlp,
    "small_cnn": build_small_cnn,
    "mobilenet_v2": build_mobilenet_v2,
    "vgg16": build_vgg16,
}
