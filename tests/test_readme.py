"""The README's two set-up commands are exactly what CI runs."""

from pathlib import Path

ROOT = Path(__file__).parent.parent


def _commands(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith(("pip install", "apt-get update"))]


def test_ci_runs_the_readme_commands_verbatim():
    ci = _commands((ROOT / ".ci" / "run").read_text())
    readme = _commands((ROOT / "README.md").read_text())
    assert len(ci) == 2
    assert readme[:2] == ci
