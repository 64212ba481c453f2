"""tfganaug: does adding GAN-made images help my image classifier, and by how much?

The Python API (`tfganaug.api`): `Experiment.from_yaml(path, overrides)` with `.dry_run()` and
`.run(out)` -> `Results`; `load_generator(path)` -> a `Generator` to call for images. The GAN
classes for plain Keras use are in `tfganaug.gans`. `import tfganaug` does not import TensorFlow.
"""

__version__ = "0.1.0"

_API = ("DryRun", "Experiment", "Generator", "Results", "load_generator")
__all__ = list(_API)


def __getattr__(name):
    # Lazily, so that `import tfganaug` stays light and the CLI can quieten TensorFlow before it loads.
    if name in _API:
        from tfganaug import api

        return getattr(api, name)
    raise AttributeError(f"module 'tfganaug' has no attribute {name!r}")
