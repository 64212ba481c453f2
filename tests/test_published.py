"""The published-vs-ours table of a study page, on a fabricated results.json and published.json."""

import json

import pytest

from tests.test_docs import check_table, rewrite
from tests.test_results import CLASSES, runs
from tfganaug.errors import UserError
from tfganaug.reporting.published import NOT_RUN, comparison, markdown
from tfganaug.reporting.results import write_results


def _study(root, *, run=True, rows=None):
    """A published table of two rows and two columns (accuracy, c1 recall) over one fabricated run."""
    folder = root / "docs" / "studies" / "toy"
    folder.mkdir(parents=True)
    if run:  # base: 40 of 100 images per class wrong on every seed (60%); gan: 35, 36, 34 (65%)
        records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [35, 36, 34])
        write_results(folder, records, CLASSES, "toy", rare_classes=["c1"])
    results = "docs/studies/toy/results.json"
    published = {"study": "A toy table.", "source": "Someone et al. 2020, Table 1", "published_on": "CIFAR-10",
                 "ours_on": "Fashion-MNIST",
                 "columns": [{"name": "total", "measure": "accuracy", "results": results},
                             {"name": "c1", "measure": "recall:c1", "results": results},
                             {"name": "c0", "measure": "recall:c0", "results": results}],
                 "decimals": 1, "rows": rows or [{"name": "C", "group": "base", "published": [37.2, 10.0, None]},
                                  {"name": "gan", "group": "gan", "published": [70.0, 80.5, 1.0]}]}
    (folder / "published.json").write_text(json.dumps(published))
    return "docs/studies/toy/published.json"


def test_ours_sits_beside_the_published_figure_with_its_interval_and_the_difference(tmp_path):
    header, rows = comparison(_study(tmp_path), tmp_path)
    assert header[0] == "paper's row (CIFAR-10) -> our group (Fashion-MNIST)"
    assert header[1:4] == ["total: paper", "total: ours (95% CI)", "total: ours - paper"]
    saved = {r["group"]: r for r in json.loads((tmp_path / "docs/studies/toy/results.json").read_text())["summary"]}
    low, high = saved["base"]["ci"]["accuracy"]
    assert rows[0][:4] == ["C -> `base`", "37.2", f"60.00 ({100 * low:.2f} – {100 * high:.2f})", "+22.80"]
    # c1 is the run's rare class: its own rare-recall interval; 65% - 80.5% = -15.50 points.
    low, high = saved["gan"]["ci"]["rare_recall"]
    assert rows[1][4:7] == ["80.5", f"65.00 ({100 * low:.2f} – {100 * high:.2f})", "-15.50"]
    # c0 has no interval in the run: one from the same bootstrap over the seeds, around the mean.
    assert rows[0][7:] == ["", rows[0][8], ""]  # no published figure: no difference
    low, high = (float(x) for x in rows[0][8].removeprefix("60.00 (").removesuffix(")").split(" – "))
    assert low < 60.0 < high and high - low < 30


def test_a_column_not_run_yet_says_so(tmp_path):
    header, rows = comparison(_study(tmp_path, run=False), tmp_path)
    assert rows[0] == ["C -> `base`", "37.2", NOT_RUN, "", "10.0", NOT_RUN, "", "", NOT_RUN, ""]


def test_the_docs_check_reads_both_files_and_the_rewrite_fills_the_table(tmp_path, monkeypatch):
    import tests.test_docs as docs

    source = _study(tmp_path)
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    page = markdown(source, tmp_path)
    assert page.startswith(f"Source: `{source}`, `docs/studies/toy/results.json`\n")
    (_, header, rows, _), = docs.tables(page)
    assert check_table(source, header, rows) == []
    changed = page.replace("+22.80", "+22.81")
    (_, header, rows, _), = docs.tables(changed)
    assert check_table(source, header, rows) == ["C -> `base` / total: ours - paper: '+22.81', the file says '+22.80'"]
    assert rewrite(changed) == page


def test_a_group_the_run_lacks_is_named(tmp_path):
    source = _study(tmp_path, rows=[{"name": "C", "group": "bsae", "published": [1.0, 2.0, 3.0]}])
    with pytest.raises(UserError, match=r"rows\.0 / columns\.0 .*group 'bsae' is not in the run's results"):
        comparison(source, tmp_path)


def test_a_row_short_of_figures_is_refused(tmp_path):
    source = _study(tmp_path, run=False, rows=[{"name": "C", "group": "base", "published": [1.0]}])
    with pytest.raises(UserError, match=r"rows\.0\.published has 1 figures for 3 columns"):
        comparison(source, tmp_path)


def test_every_study_with_a_published_table_opens_its_page_with_it():
    """Its first table, under a Source line naming published.json and every results.json it reads."""
    from tests.test_docs import ROOT, tables

    studies = sorted((ROOT / "docs" / "studies").glob("*/published.json"))
    assert len(studies) >= 3
    for published in studies:
        source = str(published.relative_to(ROOT))
        page = (published.parent / "README.md").read_text()
        assert tables(page)[0][0] == source, f"{source}: not the first table of its README"
        assert markdown(source, ROOT).splitlines()[0] in page.splitlines(), f"{source}: its Source line differs"
