"""Merge a study cell's committed pieces (one folder per seed) and keep the merged run's small files.

    python docs/studies/merge_pieces.py PIECES_FOLDER OUT_FOLDER [--set statistics.equivalence_margin=1.5]

PIECES_FOLDER holds `seed<k>/` folders, each one piece's small files (what `tfganaug merge` needs:
config.resolved.yaml, results.json, runs/, gan_metrics.json). They are merged with `tfganaug merge` into a
temporary folder, and OUT_FOLDER gets the merged run's config.resolved.yaml, results.json, results.md,
results.csv, gan_metrics.json and per_class_accuracy.png (the per-image records stay in the pieces).
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

KEPT = ("config.resolved.yaml", "results.json", "results.md", "results.csv", "gan_metrics.json",
        "per_class_accuracy.png")


def pieces(folder):
    """The folder's `seed<k>/` pieces that finished (hold results.json), by seed."""
    return sorted((p for p in Path(folder).glob("seed*") if (p / "results.json").exists()),
                  key=lambda p: int(p.name[4:]))


def merge_pieces(folder, out, overrides=()):
    """Merge `folder`'s pieces and write the merged run's small files (KEPT) into `out` (replaced)."""
    from tfganaug.experiment.merge import merge_runs

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "merged"
        merge_runs(pieces(folder), merged, log=lambda *_: None, overrides=list(overrides))
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for name in KEPT:
            if (merged / name).exists():
                shutil.copy(merged / name, out / name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pieces", help="the folder holding seed<k>/ pieces")
    parser.add_argument("out", help="where the merged run's small files go (replaced)")
    parser.add_argument("--set", action="append", default=[], help="statistics.* or output.metric, as merge --set")
    args = parser.parse_args(argv)
    merge_pieces(args.pieces, args.out, args.set)


if __name__ == "__main__":
    main()
