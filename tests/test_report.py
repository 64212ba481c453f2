"""The report of a tiny run: Markdown links that resolve, and an HTML page that renders in headless Chromium."""

import base64
import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import tiny_config
from tfganaug.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    from tests.conftest import write_npz

    raw = tiny_config(write_npz(folder / "tiny.npz"), seeds=[0, 1], groups=["baseline", "oversample", {
        "type": "gan", "gan": {"model": "cgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8],
                               "epochs": 1, "batch_size": 8}}])
    raw["data"]["rare"] = {"c1": 0.5}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", str(folder / "tiny.yaml"), "--out", str(folder / "run")]) == 0
    return folder / "run"


def test_report_markdown_has_every_section_and_its_images_exist(tiny_run):
    text = (tiny_run / "report.md").read_text()
    for heading in ("## Results", "## Per-class accuracy", "## Confusion matrices", "## Training curves",
                    "## GAN metrics", "## GAN samples"):
        assert heading in text
    assert "| oversample | 2 |" in text and "(baseline)" in text and "95% CI" in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 5 and all((tiny_run / image).is_file() for image in images)


def test_every_classifier_run_and_gan_logs_to_tensorboard(tiny_run):
    runs = sorted(p.name for p in (tiny_run / "tensorboard").iterdir())
    assert runs == [f"{g}__seed{s}" for g in ("baseline", "cgan-pseudo_label", "oversample") for s in (0, 1)]
    assert all(list(p.rglob("events.out.tfevents.*")) for p in (tiny_run / "tensorboard").iterdir())
    assert all(list((p / "tensorboard" / "samples").glob("events.out.tfevents.*")) for p in (tiny_run / "gans").iterdir())


def test_report_html_is_self_contained_and_renders(tiny_run, tmp_path):
    page = (tiny_run / "report.html").read_text()
    verdict = json.loads((tiny_run / "results.json").read_text())["verdict"]
    # The verdict is the page's first paragraph, right under the title.
    assert verdict.startswith("Verdict: ") and re.search(r"</h1><p class='verdict'>Verdict: ", page)
    # Its headline a paragraph, its short lines a list a non-statistician reads line by line.
    headline, *lines = verdict.splitlines()
    assert f"<p class='verdict'>{html.escape(headline)}</p>" in page and lines
    assert f"<ul class='note'>{''.join(f'<li>{html.escape(line[2:])}</li>' for line in lines)}</ul>" in page
    sources = re.findall(r"<img [^>]*src='([^']+)'", page)
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    for source in sources:  # every embedded image is a real PNG
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium renders the report: apt-get install chromium (the README's test command does)"
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,1600", (tiny_run / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1200)
    assert (pixels < 200).mean() > 0.02  # text, tables and plots, not a blank page
    assert len(np.unique(pixels)) > 50  # images, not only text


def test_report_command_rewrites_and_rejects_a_folder_without_results(tiny_run, tmp_path, capsys):
    (tiny_run / "report.html").unlink()
    assert main(["report", str(tiny_run)]) == 0 and (tiny_run / "report.html").exists()
    assert main(["report", str(tmp_path)]) == 2
    assert "no results.json or sweep.md here" in capsys.readouterr().err


def test_the_verdict_does_not_read_gan_train_against_a_real_trained_classifier_at_chance(tiny_run):
    """The tiny run's real-trained classifier is at chance (33.3% on 3 classes): GAN-train "1.00x" of it
    would look perfect and mean nothing (the ratio's wording is tested in test_verdict.py)."""
    metrics = json.loads((tiny_run / "gan_metrics.json").read_text()).values()
    assert all(m["real_accuracy"] < 0.5 and m["near_chance"] for m in metrics)
    results = json.loads((tiny_run / "results.json").read_text())
    assert "Its GAN's metrics mean nothing" in results["verdict"] and "x a real-trained" not in results["verdict"]
    assert "mean nothing" in (tiny_run / "report.md").read_text().split("## GAN metrics")[1]


def test_per_class_accuracy_is_a_table_of_its_own(tiny_run):
    text = (tiny_run / "report.md").read_text()
    results, per_class = text.split("## Per-class accuracy")[0], text.split("## Per-class accuracy")[1]
    assert "| group | seeds |" in results and "| c0 |" not in results.split("## Results")[1]
    assert "| group | c0 | c1 | c2 |" in per_class.split("## Confusion matrices")[0]


def test_report_refuses_results_of_an_older_tfganaug_and_writes_nothing(tiny_run, tmp_path, capsys):
    old = json.loads((tiny_run / "results.json").read_text())
    del old["statistics"]
    (tmp_path / "results.json").write_text(json.dumps(old))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results.json was written by an older tfganaug" in err and "run the same `tfganaug train`" in err
    # only the folder lock, which stays once made (deleting it under a holder would allow two)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "tfganaug.lock"]


def test_dense_activations_are_folded_into_the_squarest_grid():
    from tfganaug.reporting.feature_maps import as_grid

    grid = as_grid(np.arange(24.0).reshape(2, 12))
    assert grid.shape == (2, 3, 4, 1) and grid[1, 1, :, 0].tolist() == [16, 17, 18, 19]
    assert as_grid(np.zeros((1, 7))).shape == (1, 1, 7, 1)  # a prime width: one row
    maps = np.zeros((1, 4, 4, 2))
    assert as_grid(maps) is maps or as_grid(maps).shape == maps.shape
