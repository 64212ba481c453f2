"""Data sources, per-class sampling and tf.data pipelines."""
