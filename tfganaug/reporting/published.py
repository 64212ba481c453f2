"""A study page's opening table: the published figures beside ours, from committed files.

A study keeps the published table in `docs/studies/<study>/published.json`:

    {"study": "what the table is", "source": "where its figures come from",
     "published_on": "CIFAR-10", "ours_on": "Fashion-MNIST",
     "columns": [{"name": "50 per class", "measure": "accuracy",
                  "results": "docs/studies/dagan_lowdata/samples_per_class=50/results.json"}, ...],
     "rows": [{"name": "C", "group": "C", "published": [37.2, ...]}, ...]}

Figures are percentages as the paper prints them (null where it has none), shown with `decimals`
(optional, default 2) decimals, the paper's own, since JSON keeps no trailing zeros. A column's `measure` is
accuracy, balanced_accuracy, macro_f1 or recall:<class>; `results` is the repository path of the
results.json our run wrote for it (several columns may share one). The table has the published rows in
their order and, per published column, the paper's figure, ours (mean over seeds with its 95% interval)
and ours minus the paper's, in points; a column whose results.json is not committed yet reads
"not run yet", so a page can show the table before the run and be filled in by
`python -m tests.test_docs` after it. When the data sets or group names differ, the first header cell
and the rows say so.

    python -m tfganaug.reporting.published docs/studies/dagan_lowdata/published.json   # the Markdown
"""

import json
import sys
from pathlib import Path


from tfganaug.errors import UserError
from tfganaug.evaluation.statistics import Bootstrap
from tfganaug.reporting.tables import pipe_table

MEASURES = ("accuracy", "balanced_accuracy", "macro_f1")  # or recall:<class>
NOT_RUN = "not run yet"


def read_published(path):
    """The published table of `path`, checked: every key there, each row with a figure per column."""
    path = Path(path)
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the published table ({exc}); it must be a JSON object with "
                        f"study, source, published_on, ours_on, columns and rows") from None
    for key in ("study", "source", "published_on", "ours_on", "columns", "rows"):
        if key not in table:
            raise UserError(f"{path}: key '{key}' is missing; see tfganaug/reporting/published.py for the format")
    for k, column in enumerate(table["columns"]):
        for key in ("name", "measure", "results"):
            if key not in column:
                raise UserError(f"{path}: columns.{k}: key '{key}' is missing")
        measure = column["measure"]
        if measure not in MEASURES and not measure.startswith("recall:"):
            raise UserError(f"{path}: columns.{k}.measure is '{measure}'; use one of {', '.join(MEASURES)} "
                            f"or recall:<class>")
    for k, row in enumerate(table["rows"]):
        for key in ("name", "group", "published"):
            if key not in row:
                raise UserError(f"{path}: rows.{k}: key '{key}' is missing")
        if len(row["published"]) != len(table["columns"]):
            raise UserError(f"{path}: rows.{k}.published has {len(row['published'])} figures for "
                            f"{len(table['columns'])} columns; write null where the paper has none")
    return table


def _ours(results, group, measure, where):
    """(mean, low, high) of `measure` for `group` as fractions; low/high None without an interval."""
    summary = {row["group"]: row for row in results["summary"]}
    if group not in summary:
        raise UserError(f"{where}: group '{group}' is not in the run's results (it has {', '.join(summary)}); "
                        f"fix the row's group")
    row = summary[group]
    if measure in MEASURES:
        mean, interval = row[measure][0], row["ci"].get(measure)
        rare = None
    else:
        name = measure.removeprefix("recall:")
        if name not in results["class_names"]:
            raise UserError(f"{where}: class '{name}' is not a class of the run ({', '.join(results['class_names'])})")
        mean, rare = row["per_class_accuracy"][name][0], [results["class_names"].index(name)]
        # The run's own interval when this class alone is its rare set, as its results table shows it.
        interval = row["ci"].get("rare_recall") if results["statistics"].get("rare_classes") == [name] else None
    if interval and interval[0] is not None:
        return mean, interval[0], interval[1]
    if len(row["seeds"]) < 2:
        return mean, None, None
    # A measure the run did not interval: the same bootstrap over its seeds' confusion matrices.
    records = [r for r in results["runs"] if r["group"] == group]
    metric = "rare_recall" if rare else measure
    low, high = Bootstrap(records, len(results["class_names"]), (metric,), rare or ()).interval(group, metric)
    return mean, low, high


def comparison(published_path, root="."):
    """(header, rows) of the published-vs-ours table of `published_path` (it and the results files it names:
    repository paths from `root`)."""
    root = Path(root)
    table = read_published(root / published_path)
    first = "row"
    if table["published_on"] != table["ours_on"]:
        first = f"paper's row ({table['published_on']}) -> our group ({table['ours_on']})"
    header = [first]
    for column in table["columns"]:
        header += [f"{column['name']}: paper", f"{column['name']}: ours (95% CI)", f"{column['name']}: ours - paper"]
    loaded = {}
    for column in table["columns"]:
        path = root / column["results"]
        if column["results"] not in loaded and path.is_file():
            loaded[column["results"]] = json.loads(path.read_text())
    rows = []
    for k, row in enumerate(table["rows"]):
        cells = [row["name"] if row["name"] == row["group"] else f"{row['name']} -> `{row['group']}`"]
        for c, (column, figure) in enumerate(zip(table["columns"], row["published"])):
            cells.append("" if figure is None else f"{figure:.{table.get('decimals', 2)}f}")
            results = loaded.get(column["results"])
            if results is None:
                cells += [NOT_RUN, ""]
                continue
            mean, low, high = _ours(results, row["group"], column["measure"],
                                    f"{published_path}: rows.{k} / columns.{c} ({column['results']})")
            interval = "1 seed, no interval" if low is None else f"{100 * low:.2f} – {100 * high:.2f}"
            cells += [f"{100 * mean:.2f} ({interval})",
                      "" if figure is None else f"{100 * mean - figure:+.2f}"]
        rows.append(cells)
    return header, rows


def markdown(published_path, root="."):
    """The table with its Source line (the published file, then each results file) and its caption."""
    table = read_published(Path(root) / published_path)
    files = [str(published_path)] + list(dict.fromkeys(c["results"] for c in table["columns"]))
    header, rows = comparison(published_path, root)
    source = "Source: " + ", ".join(f"`{f}`" for f in files)
    caption = (f"{table['study']} Published ({table['published_on']}): {table['source']}. Ours "
               f"({table['ours_on']}): mean over seeds, 95% interval; differences in points.")
    return f"{source}\n\n{pipe_table(header, rows)}\n{caption}\n"


if __name__ == "__main__":
    print(markdown(sys.argv[1]), end="")
