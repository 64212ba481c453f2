"""`tfganaug report`: one run's results as `report.md` and a single self-contained `report.html`.

The Markdown links the run folder's PNGs; the HTML embeds them (base64), so it
can be mailed or archived alone. Sections appear when the run has what they
show: results with intervals and significance, per-class accuracy, confusion
matrices, training curves, GAN metrics, GAN sample grids, and for a sweep the
accuracy-against-samples-per-class plot with each point's results.
"""

import base64
import html
import json
from pathlib import Path

from tfganaug.errors import UserError
from tfganaug.evaluation.chance import chance_warnings
from tfganaug.evaluation.collapse import collapse_warnings
from tfganaug.files import read_json, write_text
from tfganaug.layout import CONFIG_FILE, METRICS_FILE, MODELS_DIR, RESULTS_FILE
from tfganaug.reporting.plots import plot_confusion_matrices, plot_quality
from tfganaug.reporting.results import explanation, markdown_table, per_class_table
from tfganaug.reporting.tables import pipe_table
from tfganaug.training.gan_folder import read_quality, trained_gans

STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#eef}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:13px}.verdict{font-weight:600;font-size:16px}"""


def _gan_metrics_table(metrics):
    header = ["GAN", "seed", "features", "real / fake", "FID", "KID ± std", "precision", "recall", "spread",
              "GAN-train", "GAN-test", "real-trained"]
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}"  # noqa: E731
    rows = []
    for name, m in metrics.items():
        o = m["overall"]
        rows.append([
            name, str(m["seed"]), m["features"].split("-")[0], f"{o['n_real']} / {o['n_fake']}", f"{o['fid']:.2f}",
            f"{o['kid']:.4f} ± {o['kid_std']:.4f}", f"{o['precision']:.2f}", f"{o['recall']:.2f}",
            "n/a" if o.get("spread") is None else f"{o['spread']:.2f}", pct(m.get("gan_train")), pct(m.get("gan_test")),
            pct(m.get("real_accuracy")) + (" (chance: metrics meaningless)" if m.get("near_chance") else "")])
    return pipe_table(header, rows)


def _sweep_order(point):
    """Sweep points (`<key>=<value>` folders) by value: numerically when the values are numbers."""
    value = point.name.split("=", 1)[1]
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


RESULTS_KEYS = ("experiment", "class_names", "runs", "summary", "verdict")  # and "statistics" since it exists


def _read_results(run_dir):
    path = run_dir / RESULTS_FILE
    again = "run the same `tfganaug train` command again: it writes the results anew from the finished runs"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is unreadable ({str(exc).splitlines()[0]}); {again}") from None
    # Valid JSON of another shape (a list, a hand-edited file) is as unreadable as a truncated file.
    missing = [key for key in RESULTS_KEYS if key not in results] if isinstance(results, dict) else None
    if missing is None or missing:
        what = f"a {type(results).__name__}" if missing is None else f"no {', '.join(missing)}"
        raise UserError(f"{path} is unreadable (it holds {what}, not the results of a run); {again}")
    return results


def _sections(run_dir, verdict=True):
    """[(title, markdown text, [image paths])] for one run folder; the Results section opens with the
    verdict when `verdict` (a single run's report has it at the very top instead)."""
    results = _read_results(run_dir)
    class_names, records = results["class_names"], results["runs"]
    if "statistics" not in results:
        raise UserError(f"{run_dir / RESULTS_FILE} was written by an older tfganaug; run the same `tfganaug train` "
                        "command again: it writes the results anew from the finished runs")
    plot_confusion_matrices(records, class_names, run_dir / "confusion_matrices.png")
    statistics = results["statistics"]
    metrics = read_json(run_dir / METRICS_FILE, what="the report leaves the GAN metrics out; `tfganaug evaluate-gan` "
                        "computes them again")
    warnings = chance_warnings(metrics or {}) + collapse_warnings(metrics or {})  # shown with the GAN metrics, not twice
    notes = "".join(f"{note}\n\n" for note in results.get("notes", []) if note not in warnings)
    sections = [
        ("Results", (f"{results['verdict']}\n\n" if verdict else "") + notes + f"{explanation(statistics)}\n\n"
                    + markdown_table(results["summary"], statistics), []),
        ("Per-class accuracy", "Test accuracy of each class in %, mean ± std over seeds.\n\n"
                               + per_class_table(results["summary"], class_names), [run_dir / "per_class_accuracy.png"]),
        ("Confusion matrices", "", [run_dir / "confusion_matrices.png"]),
        ("Training curves", "", [run_dir / "training_curves.png"]),
    ]
    if metrics:
        sections.append(("GAN metrics", "Against the test split. FID/KID: lower is better; precision (realism) "
                         "and recall (coverage): higher is better; GAN-train: test accuracy of a classifier "
                         "trained only on generated images; GAN-test: accuracy of a real-trained classifier "
                         "on generated images; real-trained: that classifier's accuracy on the test images, "
                         "the mark GAN-train and GAN-test are read against; spread: how much the generated "
                         "images vary against the real ones (near 0: collapse). Per-class values are in "
                         "gan_metrics.json.\n\n"
                         + "".join(f"{w}\n\n" for w in warnings)
                         + _gan_metrics_table(metrics), []))
    curves = []
    for name, folder in trained_gans(run_dir, "gan").items():
        rows = read_quality(folder)
        if rows:
            plot_quality(rows, folder / "quality.png", title=f"{name}: validation quality during training")
            curves.append(folder / "quality.png")
    if curves:
        sections.append(("GAN quality during training", "Measured on the validation split every `gan.select.every` "
                         "epochs; the GAN kept is the checkpoint with the best `gan.select.metric`.", curves))
    # By folder, weights or not: a merged run (`tfganaug merge`) has its pieces' last grids without their weights.
    grids = [found[-1] for folder in sorted((run_dir / MODELS_DIR).glob("*"))
             if (found := sorted((folder / "samples").glob("epoch_*.png")))]
    if grids:
        sections.append(("GAN samples", "The last sample grid of each GAN (one row per class) and CycleGAN "
                         "(input, translated, cycled back).", grids))
    return [(title, text, images) for title, text, images in sections if text or all(p.exists() for p in images)]


def _md_table_to_html(lines):
    rows = [[html.escape(c.strip()) for c in line.strip().strip("|").split("|")] for line in lines
            if not set(line.replace("|", "").strip()) <= {"-"}]
    head = "".join(f"<th>{c}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _inline(line):
    escaped = html.escape(line)
    while escaped.count("`") >= 2:
        escaped = escaped.replace("`", "<code>", 1).replace("`", "</code>", 1)
    return escaped


def _text_to_html(text):
    """Our own Markdown (paragraphs, "- " lists such as the verdict's lines, pipe tables, `code`) as HTML."""
    parts, table, items = [], [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            parts.append(_md_table_to_html(table))
            table = []
        if line.startswith("- "):
            items.append(f"<li>{_inline(line[2:])}</li>")
            continue
        if items:
            parts.append(f"<ul class='note'>{''.join(items)}</ul>")
            items = []
        if line.strip():
            parts.append(f"<p class='{'verdict' if line.startswith('Verdict:') else 'note'}'>{_inline(line)}</p>")
    return "\n".join(parts)


def _img_html(path):
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"<p><img alt='{html.escape(Path(path).name)}' src='data:image/png;base64,{data}'></p>"


def _render(title, intro, sections, root):
    md = [f"# {title}\n", intro + "\n"]
    page = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{_text_to_html(intro)}"]
    for heading, text, images in sections:
        md.append(f"## {heading}\n")
        page.append(f"<h2>{html.escape(heading)}</h2>")
        if text:
            md.append(text + "\n")
            page.append(_text_to_html(text))
        for image in images:
            md.append(f"![{image.name}]({image.relative_to(root).as_posix()})\n")
            page.append(_img_html(image))
    page.append("</body></html>")
    return "\n".join(md), "\n".join(page)


def write_report(run_dir):
    """Write `report.md` and `report.html` into `run_dir` (a run or sweep folder); return their paths."""
    run_dir = Path(run_dir)
    config = run_dir / CONFIG_FILE
    if (run_dir / "sweep.md").exists():
        points = sorted((p for p in run_dir.glob("*=*") if (p / RESULTS_FILE).exists()), key=_sweep_order)
        sections = [("Accuracy against samples per class",
                     (run_dir / "sweep.md").read_text().split("\n", 2)[2].strip(), [run_dir / "sweep_accuracy.png"])]
        for point in points:
            sections += [(f"{point.name}: {title}", text, images) for title, text, images in _sections(point)]
        title, verdict = f"Sweep report: {run_dir.name}", ""
    elif (run_dir / RESULTS_FILE).exists():
        sections = _sections(run_dir, verdict=False)
        results = _read_results(run_dir)
        title, verdict = f"Report: {results['experiment']}", f"{results['verdict']}\n\n"
    else:
        raise UserError(f"{run_dir}: no results.json or sweep.md here; give the folder of a finished "
                        f"`tfganaug train` run")
    where = f"Run folder `{run_dir}`" + ("; settings in `config.resolved.yaml`." if config.exists() else ".")
    intro = verdict + where
    md, page = _render(title, intro, sections, run_dir)
    write_text(run_dir / "report.md", md)
    write_text(run_dir / "report.html", page)
    return run_dir / "report.md", run_dir / "report.html"
