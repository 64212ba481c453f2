"""Trained generators outside tfganaug's runs: SavedModel export for TF Serving and plain TensorFlow
(`export`), and exported models as steps of a user's own tf.data pipeline (`augment`)."""

from tfganaug.serving.augment import GeneratorAugmentation, TranslationAugmentation, fill_distribution
from tfganaug.serving.export import ExportedGenerator, export_generator

__all__ = ["ExportedGenerator", "GeneratorAugmentation", "TranslationAugmentation", "export_generator",
           "fill_distribution"]
