"""Atomic file output: write to a temporary path in the same folder, then rename.

A run that is interrupted never leaves a half-written results file behind.
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path next to `path`; rename it onto `path` on success.

    Args:
        path: final destination.
        suffix: ending of the temporary name, for writers that pick the format
            from the file name (matplotlib wants `.png`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder next to `path`; rename it to `path` on success, delete it on failure.

    `path` must not exist yet (a folder of outputs is never merged into an old one).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def read_json(path, log=print, what="ignoring it"):
    """The JSON in `path`, or None when it is missing or unreadable (truncated by a full disk, edited by
    hand); an unreadable file is reported through `log` with `what` is done instead."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        log(f"{path.parent.name}/{path.name} is unreadable; {what} ({exc})")
        return None
