"""The README and docs/ say what the code and the committed files say.

- docs/configuration.md is the output of `python -m tfganaug.config.reference` (the schema's keys).
- Every table with a measured number names its source (a line `Source: \\`path\\`` above it), and each
  cell is checked against that file: study tables against results.json / gan_metrics.json, cell by
  cell; other JSON sources number by number.
- Every YAML block validates (a block marked `<!-- fragment -->` merged into experiments/quickstart.yaml,
  `<!-- fragment: groups -->` as its groups); every Python block is run by a test; every relative link
  points to a committed file.
- experiments/my_images.yaml trains end to end on a tiny folder of images.

After a study is run again and its files replaced under docs/studies/, rewrite the tables and quoted
verdicts that name them (the group rows and columns stay; prose numbers are yours to update):

    python -m tests.test_docs
"""

import copy
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from tfganaug.config import read_yaml, validate

ROOT = Path(__file__).resolve().parent.parent
RUN_OUTPUTS = ("results.md", "sweep.md")  # written by tfganaug itself: they are sources, not pages
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "ROADMAP.md",
         *sorted(p for p in (ROOT / "docs").rglob("*.md") if p.name not in RUN_OUTPUTS)]
GENERATED = {ROOT / "docs" / "configuration.md"}


def _rel(path):
    return str(path.relative_to(ROOT))


# ---------------------------------------------------------------- the configuration reference

def test_the_configuration_page_is_generated_from_the_schema():
    from tfganaug.config.reference import reference

    assert (ROOT / "docs" / "configuration.md").read_text() == reference(), \
        "run: python -m tfganaug.config.reference > docs/configuration.md"


def test_the_configuration_page_names_every_key_and_rule():
    from tfganaug.config import ExperimentConfig, GANTraining
    from tfganaug.config.reference import reference

    page = reference()
    for model in (ExperimentConfig, GANTraining):
        for name in model.model_fields:
            assert f"| `{name}` |" in page
    assert "| `kimg` | float or null (> 0) | `null` |" in page
    assert "data.image_size is required for source 'folder', e.g. [64, 64]" in page  # a rule between keys


# ---------------------------------------------------------------- tables and their sources

def tables(text):
    """(source or None, header cells, rows of cells, line number) of every Markdown table in `text`."""
    lines, found, source, i = text.splitlines(), [], None, 0
    while i < len(lines):
        line = lines[i]
        match = re.match(r"^Source: `([^`]+)`", line)
        if match:
            source = match.group(1)
        elif line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|(\s*:?-+:?\s*\|)+$", lines[i + 1]):
            start, rows = i, []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            found.append((source, _cells(line), rows, start + 1))
            source = None
            continue
        elif line.strip() and not line.startswith(">"):
            pass
        i += 1
    return found


def _cells(line):
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _measured(cells):
    """Whether cells hold a measured number: a decimal or a percentage outside code spans."""
    text = re.sub(r"`[^`]*`", "", " ".join(cells))
    return bool(re.search(r"\d\.\d|\d%", text))


def test_every_table_with_a_measured_number_names_its_committed_source():
    missing, absent = [], []
    for page in PAGES:
        if page in GENERATED:
            continue
        for source, header, rows, line in tables(page.read_text()):
            if source is None and any(_measured(r) for r in rows):
                missing.append(f"{_rel(page)}:{line}")
            if source is not None and not (ROOT / source).is_file():
                absent.append(f"{_rel(page)}:{line}: {source}")
    assert not missing, f"tables without a `Source:` line: {missing}"
    assert not absent, f"sources that are not committed files: {absent}"


def _pct(pair):
    return f"{100 * pair[0]:.2f} ± {100 * pair[1]:.2f}"


def _difference(test):
    return (f"{100 * test['diff']:+.2f} (95% CI {100 * test['low']:.2f} to {100 * test['high']:.2f}, "
            f"p {test['p_holm']:.3f}){'*' if test['significant'] else ''}")


def results_cell(column, row, results):
    """The expected text of one cell of a results table, from results.json."""
    statistics, classes = results["statistics"], results["class_names"]
    metric = statistics["metric"]
    if column == "group":
        return row["group"]
    if column == "seeds":
        return str(len(row["seeds"]))
    if column == "train images":
        return str(row["train_size"])
    if column in ("accuracy", "balanced acc.", "macro-F1"):
        return _pct(row[{"accuracy": "accuracy", "balanced acc.": "balanced_accuracy", "macro-F1": "macro_f1"}[column]])
    if column == "95% CI":
        low, high = row["ci"][metric]
        return f"{100 * low:.2f} – {100 * high:.2f}"
    if column == "vs baseline":
        test = (row.get("vs_baseline") or {}).get(metric)
        return _difference(test) if test else "(baseline)" if row["group"] == statistics["baseline"] else ""
    if column == "vs best control":
        test = (row.get("vs_control") or {}).get(metric)
        return _difference(test) if test else "(best control)" if row["group"] == statistics["best_control"] else ""
    name = column.removesuffix(" recall")
    if name in classes:
        return _pct(row["per_class_accuracy"][name])
    raise AssertionError(f"column {column!r} has no rule; use one of group, seeds, train images, accuracy, "
                         f"balanced acc., macro-F1, 95% CI, vs baseline, vs best control, <class> recall")


def gan_metrics_cell(column, entry):
    """The expected text of one cell of a GAN metrics table, from one gan_metrics.json entry."""
    overall = entry["overall"]
    rules = {"model": lambda: entry["model"], "seed": lambda: str(entry["seed"]),
             "FID": lambda: f"{overall['fid']:.2f}", "precision": lambda: f"{overall['precision']:.2f}",
             "recall": lambda: f"{overall['recall']:.2f}", "GAN-train": lambda: f"{100 * entry['gan_train']:.1f}%",
             "GAN-test": lambda: f"{100 * entry['gan_test']:.1f}%",
             "real-trained": lambda: f"{100 * entry['real_accuracy']:.1f}%",
             "collapsed": lambda: ", ".join(entry["collapsed"]) or "none"}
    assert column in rules, f"column {column!r} has no rule; use one of {sorted(rules)}"
    return rules[column]()


def check_published(source, header, rows):
    """The cells of a published-vs-ours table that differ from its published.json and the results.json
    files that names (`tfganaug.reporting.published`): header and rows as the module writes them."""
    from tfganaug.reporting.published import comparison

    expected_header, expected = comparison(ROOT / source, ROOT)
    if header != expected_header:
        return [f"the header is {header}, {source} gives {expected_header}"]
    if [cells[0] for cells in rows] != [cells[0] for cells in expected]:
        return [f"the rows are {[c[0] for c in rows]}, {source} gives {[c[0] for c in expected]}"]
    return [f"{want[0]} / {col}: {cell!r}, the file says {expected_cell!r}" for cells, want in zip(rows, expected)
            for col, cell, expected_cell in zip(header, cells, want) if cell != expected_cell]


def check_table(source, header, rows):
    """The cells of one table that differ from its source file, as messages."""
    if source.endswith("published.json"):
        return check_published(source, header, rows)
    data = json.loads((ROOT / source).read_text())
    wrong = []
    if source.endswith("results.json") and "summary" in data:  # a run's results, not a bench's
        summary = {row["group"]: row for row in data["summary"]}
        for cells in rows:
            row = summary.get(cells[0])
            if row is None:
                wrong.append(f"group {cells[0]!r} is not in {source}")
                continue
            wrong += [f"{cells[0]} / {col}: {cell!r}, the file says {expected!r}"
                      for col, cell in zip(header, cells) if cell != (expected := results_cell(col, row, data))]
    elif source.endswith("gan_metrics.json"):
        entries = {(e["model"], str(e["seed"])): e for e in data.values()}
        for cells in rows:
            entry = entries.get((cells[0], cells[1]))
            if entry is None:
                wrong.append(f"GAN {cells[:2]} is not in {source}")
                continue
            wrong += [f"{cells[:2]} / {col}: {cell!r}, the file says {expected!r}"
                      for col, cell in zip(header, cells) if cell != (expected := gan_metrics_cell(col, entry))]
    else:
        leaves = _numbers(data)
        for cells in rows:
            for cell in cells[1:]:
                for token in re.findall(r"-?\d[\d,]*(?:\.\d+)?", re.sub(r"`[^`]*`", "", cell)):
                    if not _in_file(token, leaves):
                        wrong.append(f"{cells[0]}: {token} is not a number of {source}")
    return wrong


def _numbers(data):
    if isinstance(data, dict):
        return [x for v in data.values() for x in _numbers(v)]
    if isinstance(data, list):
        return [x for v in data for x in _numbers(v)]
    return [float(data)] if isinstance(data, (int, float)) and not isinstance(data, bool) else []


def _in_file(token, leaves):
    """Whether a number as printed (its decimals) is a value of the file, as a fraction or in %."""
    decimals = len(token.split(".")[1]) if "." in token else 0
    value = float(token.replace(",", ""))
    return any(round(x, decimals) == value or round(100 * x, decimals) == value for x in leaves)


def _expected_rows(source, header, rows):
    """The rows of a results or GAN metrics table as its source file has them (None for other sources)."""
    if not source.endswith(".json"):
        return None
    if source.endswith("published.json"):
        from tfganaug.reporting.published import comparison

        return comparison(ROOT / source, ROOT)[1]
    data = json.loads((ROOT / source).read_text())
    if source.endswith("results.json") and "summary" in data:
        summary = {row["group"]: row for row in data["summary"]}
        return [[results_cell(col, summary[cells[0]], data) for col in header] for cells in rows]
    if source.endswith("gan_metrics.json"):
        entries = {(e["model"], str(e["seed"])): e for e in data.values()}
        return [[gan_metrics_cell(col, entries[(cells[0], cells[1])]) for col in header] for cells in rows]
    return None


def rewrite(text):
    """`text` with every results / GAN metrics table and quoted verdict rewritten from its source file."""
    lines, out, source, last_source, i = text.split("\n"), [], None, None, 0
    while i < len(lines):
        line = lines[i]
        match = re.match(r"^Source: `([^`]+)`", line)
        if match:
            source = last_source = match.group(1)  # `source`: the next table's; `last_source`: a verdict's
        if source and line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            end = i + 2
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            header, rows = _cells(line), [_cells(row) for row in lines[i + 2:end]]
            expected = _expected_rows(source, header, rows)
            out += lines[i:end] if expected is None else [line, lines[i + 1]] + [
                "| " + " | ".join(cells) + " |" for cells in expected]
            i, source = end, None
            continue
        if last_source and last_source.endswith("results.json") and line.startswith("> Verdict:"):
            while i < len(lines) and lines[i].startswith(">"):
                i += 1
            verdict = json.loads((ROOT / last_source).read_text())["verdict"]
            # The headline and each of its "- " lines wrapped on their own, so the quote keeps its list.
            out += ["> " + part for row in verdict.splitlines()
                    for part in textwrap.wrap(row, 100, break_on_hyphens=False,
                                              subsequent_indent="  " if row.startswith("- ") else "")]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def test_rewrite_restores_changed_numbers_and_keeps_the_rest():
    readme = (ROOT / "README.md").read_text()
    assert rewrite(readme) == readme
    cell = re.search(r"\| (\d+\.\d\d) ± ", readme).group(1)  # the first mean of the quickstart table
    points = re.search(r"> Verdict: .*? (-?\d+\.\d\d) points", readme, re.S).group(1)
    changed = readme.replace(f"| {cell} ± ", "| 12.34 ± ", 1).replace(f" {points} points", " 99.99 points", 1)
    assert changed.count("12.34 ±") == readme.count("12.34 ±") + 1 and "99.99 points" in changed
    assert rewrite(changed) == readme


def _sourced_tables():
    for page in PAGES:
        for source, header, rows, line in tables(page.read_text()):
            if source is not None and source.endswith(".json"):
                yield f"{_rel(page)}:{line}", source, header, rows


def test_every_sourced_table_matches_its_file_cell_by_cell():
    found = list(_sourced_tables())
    studies = {source for _, source, _, _ in found if source.endswith(("results.json", "gan_metrics.json"))}
    assert {"docs/studies/quickstart/results.json", "docs/studies/quickstart/gan_metrics.json",
            "docs/studies/gan_recipes_rare/results.json"} <= studies
    wrong = [f"{where}: {message}" for where, source, header, rows in found
             for message in check_table(source, header, rows)]
    assert not wrong, "\n".join(wrong)


def test_a_changed_number_is_caught():
    readme = (ROOT / "README.md").read_text()
    source, header, rows, _ = next(t for t in tables(readme) if t[0] == "docs/studies/quickstart/results.json")
    assert check_table(source, header, rows) == []
    column = header.index("accuracy")
    changed = copy.deepcopy(rows)
    mean, std = changed[0][column].split(" ± ")
    changed[0][column] = f"{float(mean) + 0.01:.2f} ± {std}"
    assert len(check_table(source, header, changed)) == 1
    assert check_table("docs/benchmarks/classifier_step.json", ["variant", "x"], [["fit", "2674.9"]])


def test_quoted_verdicts_are_the_runs_own():
    """A blockquote starting 'Verdict:' is the verdict of the results.json named by the Source line above it."""
    checked = 0
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"^Source: `([^`]+results\.json)`((?:.*\n)*?)\n?((?:> .*\n)+)", text, re.M):
            quote = " ".join(line[2:] for line in match.group(3).splitlines())
            if not quote.startswith("Verdict:"):
                continue
            verdict = json.loads((ROOT / match.group(1)).read_text())["verdict"]
            assert " ".join(quote.split()) == " ".join(verdict.split()), f"{_rel(page)}: {match.group(1)}"
            checked += 1
    assert checked >= 1


# ---------------------------------------------------------------- every example runs

def _blocks(language):
    """(page, marker on the line before or None, code) of every fenced block in `language`."""
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"(?:^(<!--[^\n]*-->)\n)?^```" + language + r"\n(.*?)^```", text, re.M | re.S):
            yield page, match.group(1), match.group(2)


def _merged(base, fragment):
    out = copy.deepcopy(base)
    for key, value in fragment.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_every_yaml_block_validates():
    base = read_yaml(ROOT / "experiments" / "quickstart.yaml")
    count = 0
    for page, marker, code in _blocks("yaml"):
        raw = yaml.safe_load(code)
        where = f"{_rel(page)}: {code.splitlines()[0]}"
        if marker == "<!-- fragment -->":
            raw = _merged(base, raw)
        elif marker == "<!-- fragment: groups -->":
            raw = _merged(base, {"groups": ["baseline", *raw]})
        else:
            assert "name" in raw and "groups" in raw, f"{where}: a partial block needs a <!-- fragment --> marker"
        validate(raw, source=where)
        count += 1
    assert count >= 5


def test_every_python_block_has_a_test():
    runners = {"augment", "saved_model", "api"}  # tests/test_augment.py runs `augment`; this file the others
    unmarked = [f"{_rel(page)}: {code.splitlines()[0]}" for page, marker, code in _blocks("python")
                if not (marker and marker.removeprefix("<!-- example: ").removesuffix(" -->") in runners)]
    assert not unmarked, f"python blocks without an <!-- example: NAME --> a test runs: {unmarked}"


def _example(name):
    return next(code for _, marker, code in _blocks("python") if marker == f"<!-- example: {name} -->")


def test_the_saved_model_example_runs(tmp_path, monkeypatch):
    from tfganaug.config import GANTraining
    from tfganaug.experiment import build_gan
    from tfganaug.serving.export import export_generator

    model = build_gan(GANTraining(model="acgan", network="mlp", latent_dim=4, hidden_units=[8]), (8, 8, 1), 10, 0)
    spec = {"gan": {"model": "acgan"}, "image_shape": [8, 8, 1], "class_names": [str(k) for k in range(10)]}
    export_generator(model, spec, tmp_path / "exported_models", "quickstart-acgan")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(_example("saved_model"), namespace)  # noqa: S102
    images = namespace["images"].numpy()
    assert images.shape == (3, 8, 8, 1) and images.dtype == np.uint8


# ---------------------------------------------------------------- links and the README's shape

def test_relative_links_point_to_committed_files():
    broken = []
    for page in PAGES:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) + re.findall(r'src="([^"]+)"', text):
            if not target.startswith(("http://", "https://", "mailto:")) and not (page.parent / target).exists():
                broken.append(f"{_rel(page)}: {target}")
    assert not broken, broken


def test_the_readme_is_a_five_minute_read_in_task_order():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    headings = [(n, line) for n, line in enumerate(lines) if line.startswith("## ")]
    where = {h: n for n, h in headings}
    assert where["## Your own images"] < 150 and where["## Use a generator in tf.data or TF Serving"] < 150


# ---------------------------------------------------------------- experiments/my_images.yaml

def _image_folder(root, classes=("apple", "pear", "plum"), per_class=12, size=8):
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(80 * k + rng.integers(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root


def test_the_folder_example_validates_and_holds_no_rare_class():
    config = validate(read_yaml(ROOT / "experiments" / "my_images.yaml"))
    assert config.data.source == "folder" and config.data.rare == {}


@pytest.mark.slow
def test_the_folder_example_trains_end_to_end_on_a_tiny_folder(tmp_path, capsys):
    from tfganaug.cli import main

    folder = _image_folder(tmp_path / "my_images")
    gan = "groups.4.gan"
    tiny = [f"data.path={folder}", "data.image_size=[8, 8]", "data.val_per_class=2", "seeds=[0]",
            "classifier.filters=[4]", "classifier.dense_units=8", "classifier.epochs=1", "classifier.batch_size=8",
            f"{gan}.latent_dim=4", f"{gan}.base_filters=4", f"{gan}.d_filters=[4, 4]", f"{gan}.kimg=null",
            f"{gan}.epochs=1", f"{gan}.batch_size=8", "output.gan_metrics=false"]  # GAN metrics: tested elsewhere
    args = ["train", str(ROOT / "experiments" / "my_images.yaml"), "--out", str(tmp_path / "run")]
    args += [item for setting in tiny for item in ("--set", setting)]
    assert main([*args, "--dry-run", "--no-estimate"]) == 0
    assert "apple" in capsys.readouterr().out and not (tmp_path / "run").exists()
    assert main(args) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["class_names"] == ["apple", "pear", "plum"]
    sizes = {row["group"]: row["train_size"] for row in results["summary"]}
    assert list(sizes) == ["baseline", "classical", "class_weight", "oversample", "cgan_filtered"]
    assert sizes["cgan_filtered"] == sizes["baseline"] + round(0.5 * sizes["baseline"])
    assert list((tmp_path / "run" / "gans").glob("cgan-*/gan.weights.h5"))


# ---------------------------------------------------------------- the Python API example

API_TINY = {"seeds": [0], "data.samples_per_class": 6, "data.val_per_class": 2, "data.test_per_class": 3,
            "classifier.epochs": 1, "classifier.filters": [4], "classifier.dense_units": 8,
            "groups.2.gan.epochs": 1, "groups.2.gan.hidden_units": [8], "groups.2.gan.latent_dim": 4,
            "output.gan_metrics": False}


@pytest.mark.slow
def test_the_api_example_runs_at_tiny_settings(tmp_path, monkeypatch):
    """The README's Python block, on the quickstart YAML made tiny by its own `overrides` argument."""
    code = _example("api")
    assert 'overrides={"seeds": [0]}' in code and '"experiments/quickstart.yaml"' in code
    code = code.replace('overrides={"seeds": [0]}', f"overrides={API_TINY!r}").replace(
        '"experiments/quickstart.yaml"', repr(str(ROOT / "experiments" / "quickstart.yaml")))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(code, namespace)  # noqa: S102
    assert [r["group"] for r in namespace["records"]] == ["baseline", "class_weight", "acgan-pseudo_label"]
    assert namespace["results"].verdict.startswith("Verdict:") and namespace["results"].report_html.exists()
    images = namespace["images"]
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.uint8


if __name__ == "__main__":
    for page in PAGES:
        text = page.read_text()
        if rewrite(text) != text:
            page.write_text(rewrite(text))
            print("rewrote", _rel(page))


def test_the_regime_map_is_what_its_script_reads_from_the_committed_merged_cells():
    """docs/studies/gan_regimes/map.json and map.md hold what map.py builds from each cell's merged
    results.json (run `python docs/studies/gan_regimes/map.py --no-merge` after committing merged cells)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("regime_map", ROOT / "docs" / "studies" / "gan_regimes" / "map.py")
    regime_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regime_map)
    mapping = regime_map.build_map()
    assert mapping, "no cell of the regime study is committed"
    assert json.loads((ROOT / "docs" / "studies" / "gan_regimes" / "map.json").read_text()) == mapping
    assert regime_map.markdown(mapping) in (ROOT / "docs" / "studies" / "gan_regimes" / "map.md").read_text()
    # Each merged cell: the verdict's best control, the YAML's margin, each recipe against that control.
    for data, cells in mapping.items():
        margin = read_yaml(ROOT / "experiments" / f"gan_regimes_{data}.yaml")["statistics"]["equivalence_margin"]
        for name, entry in ((n, e) for n, e in cells.items() if e["groups"]):
            results = json.loads((ROOT / "docs" / "studies" / "gan_regimes" / data / name / "merged" /
                                  "results.json").read_text())
            statistics, rows = results["statistics"], {row["group"]: row for row in results["summary"]}
            assert entry["best_control"] == statistics["best_control"] and entry["margin"] == margin
            for group, test in entry["groups"].items():
                expected = rows[group]["vs_control"].get(statistics["metric"], {}).get("diff")
                assert test.get("diff") == expected and test["no_images"] == (expected is None)


def test_the_regime_map_picture_words_each_outcome_as_the_table_does(tmp_path, monkeypatch):
    """map.png's cells say what map.md's say: a 2-seed comparison is "too few seeds" (not tested), not
    marked as inconclusive, and a group that generated no image says so."""
    import importlib.util

    import matplotlib.axes

    spec = importlib.util.spec_from_file_location("regime_map", ROOT / "docs" / "studies" / "gan_regimes" / "map.py")
    regime_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regime_map)
    texts, text = [], matplotlib.axes.Axes.text
    monkeypatch.setattr(matplotlib.axes.Axes, "text", lambda ax, x, y, s, *a, **k: texts.append(s) or text(ax, x, y, s,
                                                                                                          *a, **k))
    test = {"diff": -0.02, "low": -0.025, "high": -0.015, "half": 0.005, "outcome": "not tested", "no_images": False}
    cells = {"samples_per_class=10": {"seeds": [0, 1], "n_seeds": 2, "groups": {"g": test, "fill": {**test, "no_images": True}}}}
    regime_map.plot({"fashion": cells}, tmp_path / "map.png")
    assert texts == ["-2.0\n±0.5 too few seeds", "no images"]
