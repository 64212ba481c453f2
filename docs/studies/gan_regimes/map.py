"""The regime study's map: regime x GAN recipe -> the difference against the cell's best control, with
its 95% interval and what it resolved (better, worse, tie within the margin, inconclusive).

    python docs/studies/gan_regimes/map.py            # merge every cell's pieces, then write the map
    python docs/studies/gan_regimes/map.py --no-merge # the map from the merged results already committed

A cell is a folder `<data>/<cell>/` (e.g. `fashion/samples_per_class=10/`) holding one folder per seed,
`seed<k>/`, each a piece's small files. With two or more pieces the cell's seeds are merged into
`<cell>/merged/` (`docs/studies/merge_pieces.py`: `tfganaug merge`, keeping the merged run's small files).
Then `map.json` (the numbers), `map.md` (a table per data set) and `map.png` (the picture) are written
beside this file.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from merge_pieces import merge_pieces, pieces  # noqa: E402  (docs/studies/merge_pieces.py)

DATA = {"fashion": "Fashion-MNIST", "animal": "Animal-MNIST"}
CELLS = {"samples_per_class=10": "10 per class", "samples_per_class=20": "20 per class",
         "samples_per_class=50": "50 per class", "imbalance_ratio=10": "long tail, ratio 10",
         "imbalance_ratio=100": "long tail, ratio 100"}
SHORT = {"better": "better", "worse": "worse", "tie": "tie", "inconclusive": "inconclusive",
         "not tested": "too few seeds"}


def merge_cell(cell, data):
    """Merge the cell's pieces into `cell/merged/`, read with the equivalence margin of the data set's
    YAML today (pieces made before it was set hold the default)."""
    from tfganaug.config import read_yaml

    margin = read_yaml(HERE.parents[2] / "experiments" / f"gan_regimes_{data}.yaml")["statistics"]["equivalence_margin"]
    merge_pieces(cell, cell / "merged", [f"statistics.equivalence_margin={margin}"])


def cell_entry(cell):
    """The map's entry of one cell: its seeds, best control, baseline and each GAN group against the control
    (from the merged results; a cell with fewer than two pieces has only its seeds)."""
    merged = cell / "merged" / "results.json"
    if len(pieces(cell)) < 2 or not merged.exists():
        seeds = [int(p.name[4:]) for p in pieces(cell)]
        return {"seeds": seeds, "n_seeds": len(seeds), "groups": {}}
    results = json.loads(merged.read_text())
    statistics, rows = results["statistics"], {row["group"]: row for row in results["summary"]}
    metric, control = statistics["metric"], statistics["best_control"]
    seeds = rows[statistics["baseline"]]["seeds"]
    groups = {}
    for name, row in rows.items():
        if row["type"] != "gan":
            continue
        if name in statistics["no_images"]:  # compared with no control: it trains on the real images alone
            groups[name] = {"mean": row[metric][0], "no_images": True}
            continue
        test = row["vs_control"][metric]
        groups[name] = {"mean": row[metric][0], "diff": test["diff"], "low": test["low"], "high": test["high"],
                        "half": test["half"], "outcome": test["outcome"], "seeds_needed": test["seeds_needed"],
                        "no_images": False}
    return {"seeds": seeds, "n_seeds": len(seeds), "metric": metric, "margin": statistics["equivalence_margin"],
            "best_control": control, "best_control_mean": rows[control][metric][0],
            "same_as": statistics["same_as"], "baseline_mean": rows[statistics["baseline"]][metric][0],
            "groups": groups}


def build_map(root=HERE):
    """{data: {cell: entry}} of every cell folder under `root`, in the study's order."""
    out = {}
    for data in DATA:
        cells = {name: cell_entry(root / data / name) for name in CELLS if (root / data / name).is_dir()}
        if cells:
            out[data] = cells
    return out


def _recipes(cells):
    return list(dict.fromkeys(g for entry in cells.values() for g in entry["groups"]))


def _cell_text(entry, recipe):
    test = entry["groups"].get(recipe)
    if test is None:
        return "not run" if entry["n_seeds"] < 2 else ""
    if test["no_images"]:
        return "no images"
    return (f"{100 * test['diff']:+.2f} ({100 * test['low']:+.2f} to {100 * test['high']:+.2f}) "
            f"{SHORT[test['outcome']]}")


def markdown(mapping):
    """One table per data set: a row per recipe, a column per cell; then the control each cell beat."""
    parts = []
    for data, cells in mapping.items():
        header = ["recipe"] + [CELLS[c] for c in cells]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines.append("| seeds | " + " | ".join(str(e["n_seeds"]) for e in cells.values()) + " |")
        lines.append("| best control | " + " | ".join(
            f"{e['best_control']} {100 * e['best_control_mean']:.2f}" if e["groups"] else "" for e in cells.values()) + " |")
        lines.append("| baseline | " + " | ".join(
            f"{100 * e['baseline_mean']:.2f}" if e["groups"] else "" for e in cells.values()) + " |")
        for recipe in _recipes(cells):
            lines.append(f"| {recipe} | " + " | ".join(_cell_text(e, recipe) for e in cells.values()) + " |")
        parts.append(f"### {DATA[data]}\n\nSource: `docs/studies/gan_regimes/map.json`\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def plot(mapping, path):
    """A heat map per data set: recipes x cells, coloured by the difference against the best control."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(mapping), figsize=(6.5 * len(mapping), 5.2), squeeze=False)
    for ax, (data, cells) in zip(axes[0], mapping.items()):
        recipes, names = _recipes(cells), list(cells)
        values = np.full((len(recipes), len(names)), np.nan)
        for j, name in enumerate(names):
            for i, recipe in enumerate(recipes):
                test = cells[name]["groups"].get(recipe)
                if test and not test["no_images"]:
                    values[i, j] = 100 * test["diff"]
                    ax.text(j, i, f"{values[i, j]:+.1f}\n±{100 * test['half']:.1f} {SHORT[test['outcome']]}", ha="center",
                            va="center", fontsize=7)
                elif test:
                    ax.text(j, i, "no images", ha="center", va="center", fontsize=7, color="grey")
        colours = plt.get_cmap("RdBu").copy()
        colours.set_bad("0.92")  # no images, or no merged seeds
        image = ax.imshow(values, cmap=colours, vmin=-5, vmax=5, aspect="auto")
        ax.set_xticks(range(len(names)), [f"{CELLS[n]}\n({cells[n]['n_seeds']} seeds)" for n in names], fontsize=8)
        ax.set_yticks(range(len(recipes)), recipes, fontsize=8)
        ax.set_title(f"{DATA[data]}: GAN recipe - best control (points)", fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="points of the headline metric")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-merge", action="store_true", help="read the merged results already in <cell>/merged/")
    args = parser.parse_args(argv)
    if not args.no_merge:
        for data in DATA:
            for name in CELLS:
                cell = HERE / data / name
                if len(pieces(cell)) >= 2:
                    print(f"merging {data}/{name}: {len(pieces(cell))} pieces", file=sys.stderr)
                    merge_cell(cell, data)
    mapping = build_map()
    (HERE / "map.json").write_text(json.dumps(mapping, indent=1) + "\n")
    margins = sorted({f"±{e['margin']:g}" for cells in mapping.values() for e in cells.values() if "margin" in e})
    (HERE / "map.md").write_text(
        "# The regime study's map\n\nDifference of each GAN recipe against the cell's best control, in points of "
        "the cell's headline metric (95% interval), and what it resolved against the study's margin "
        f"({', '.join(margins)} points: statistics.equivalence_margin). A control that trains as another one does "
        "on a cell (a re-balancing loss on balanced classes) is not its best control; a recipe that adds no image "
        "there says so. Intervals are each comparison's own; better and worse need the Holm-corrected p below 0.05 "
        "across a cell's recipes, so an interval that just excludes 0 can read inconclusive. Written by "
        "`python docs/studies/gan_regimes/map.py`.\n\n" + markdown(mapping))
    plot(mapping, HERE / "map.png")


if __name__ == "__main__":
    main()
