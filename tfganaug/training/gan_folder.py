"""The folder of one trained GAN or CycleGAN inside a run folder, and finding them again.

    gans/<prefix>-<key>/gan.json         what was trained (settings, image shape, classes, seed):
                                         enough to rebuild it; a CycleGAN's has a "cyclegan" entry
    gans/<prefix>-<key>/gan.weights.h5   the final weights (see `tfganaug.training.gan_fit`)

`prefix` is the GAN model ("acgan") or `cyclegan-<name>`; `key` hashes the
settings, the data and the seed (`settings_key`). Which kind a folder holds is
read from its `gan.json` (`model_kind`), never guessed from its name.
"""

import csv
import hashlib
import json
from pathlib import Path

from tfganaug.errors import UserError
from tfganaug.files import atomic_path
from tfganaug.layout import MODELS_DIR, SPEC_FILE, WEIGHTS_FILE

QUALITY_FILE = "quality.csv"  # with gan.select: the validation quality every few epochs
BEST_FILE = "best.weights.h5"  # and the weights of the best evaluation so far

KINDS = ("gan", "cyclegan", "all")


class UnreadableModel(UserError):
    """A trained model's `gan.json` or weights that cannot be loaded (truncated, hand-edited)."""

    def __init__(self, path, reason):
        super().__init__(f"{path} cannot be loaded ({reason}); run the same `tfganaug train` command again: "
                         "it sets the file aside and trains this model again")
        self.path, self.reason = path, reason


def stable_hash(value):
    """A short hash of a JSON-able value that is the same in every process and on every machine."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def settings_key(*parts):
    """The `stable_hash` of several settings: names a trained model's folder and cache entries."""
    return stable_hash(list(parts))


def read_spec(folder):
    """The `gan.json` of a model folder; `UnreadableModel` when it is truncated or not a JSON object."""
    path = Path(folder) / SPEC_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableModel(path, str(exc).splitlines()[0]) from None
    if not isinstance(spec, dict):
        raise UnreadableModel(path, f"a {type(spec).__name__}, not a JSON object")
    return spec


def model_kind(spec):
    """"cyclegan" for a CycleGAN's spec, "gan" for any GAN's."""
    return "cyclegan" if "cyclegan" in spec else "gan"


def model_label(spec):
    """How a model is named to users: its GAN model ("acgan") or "cyclegan-<name>"."""
    return f"cyclegan-{spec['cyclegan']['name']}" if model_kind(spec) == "cyclegan" else spec["gan"]["model"]


def trained_gans(run_dir, kind="gan"):
    """{folder name: folder} of the finished models of a run: GANs ("gan"), CycleGANs ("cyclegan") or both ("all")."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    models = Path(run_dir) / MODELS_DIR
    found = {p.name: p for p in sorted(models.glob("*")) if (p / WEIGHTS_FILE).exists()} if models.is_dir() else {}
    return {n: p for n, p in found.items() if kind == "all" or model_kind(read_spec(p)) == kind}


def choose_gan(run_dir, name=None, kind="gan"):
    """The folder of one finished model of a run (`kind` as in `trained_gans`): the only one, or the
    one `name` designates: its folder name, its GAN model ("acgan") or its CycleGAN's name ("tshirt-shirt")."""
    found = trained_gans(run_dir, kind)
    if not found:
        raise UserError(f"{run_dir}: no trained GAN here (expected {MODELS_DIR}/<name>/{WEIGHTS_FILE}); "
                        f"give the folder of a run whose groups include a `type: gan` group")
    matches = []
    if name is not None:
        matches = [p for n, p in found.items() if name == n or name in _names(read_spec(p))]
        if len(matches) == 1:
            return matches[0]
    elif len(found) == 1:
        return next(iter(found.values()))
    why = f"no GAN named {name!r}" if name is not None and not matches else "several GANs"
    raise UserError(f"{run_dir}: {why}; choose one with --gan, one of: {', '.join(found)}")


def _names(spec):
    if model_kind(spec) == "cyclegan":
        return {spec["cyclegan"]["name"], model_label(spec)}
    return {spec["gan"]["model"]}


def load_trained_gan(folder, build):
    """Rebuild a finished GAN or CycleGAN from its folder.

    Args:
        folder: a model folder written by `tfganaug.training.gan_fit.train_gan`.
        build: `build(spec, pretrained=False)` -> an untrained compiled model of the same architecture
            (`pretrained=False`: frozen pretrained weights need not be read, the checkpoint has them).

    Returns:
        (model with the trained weights, spec dict).
    """
    folder = Path(folder)
    try:
        spec = read_spec(folder)
        model = build(spec, pretrained=False)
        model.load_weights(folder / WEIGHTS_FILE)
    except (OSError, ValueError, KeyError) as exc:  # truncated or hand-edited files
        raise UnreadableModel(folder / WEIGHTS_FILE, str(exc).splitlines()[0]) from None
    return model, spec


def read_quality(folder):
    """The rows of a GAN folder's `quality.csv` (empty when there is none)."""
    path = Path(folder) / QUALITY_FILE
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_quality(folder, rows):
    """Write `quality.csv` from rows (dicts with the same keys), atomically."""
    with atomic_path(Path(folder) / QUALITY_FILE) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def drop_rows_after(folder, epochs_done):
    """Forget evaluations of epochs a resumed run will train again."""
    rows = read_quality(folder)
    kept = [row for row in rows if int(row["epoch"]) <= epochs_done]
    if len(kept) != len(rows):
        if kept:
            write_quality(folder, kept)
        else:
            (Path(folder) / QUALITY_FILE).unlink()
