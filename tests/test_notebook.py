"""examples/quickstart.ipynb runs (in a temporary folder) and shows the table, the verdict and a sample grid."""

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import tfganaug

REPO = Path(tfganaug.__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_quickstart_notebook_shows_the_table_the_verdict_and_a_sample_grid(tmp_path):
    # The repository's layout in a temporary folder: the notebook finds ../experiments/quickstart.yaml and
    # writes its run folder beside itself, so nothing lands in the repository.
    (tmp_path / "experiments").mkdir()
    shutil.copy(REPO / "experiments" / "quickstart.yaml", tmp_path / "experiments")
    (tmp_path / "examples").mkdir()
    notebook = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path / "examples")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1 and "Verdict:" in html[0] and "<td>acgan-pseudo_label</td>" in html[0]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the sample grid
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "[3/3] acgan-pseudo_label seed 0" in printed and "baseline " in printed
    assert "absl::InitializeLog" not in printed and "WARNING:tensorflow" not in printed
    assert "((8, 28, 28, 1), dtype('uint8'))" in outputs[-1].data["text/plain"]
    assert (tmp_path / "examples" / "runs" / "quickstart-tiny" / "results.json").exists()
