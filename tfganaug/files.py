"""Atomic file output: write to a temporary path in the same folder, then rename.

A run that is interrupted never leaves a half-written results file behind. The
temporary files and folders (`mkstemp`, `mkdtemp`: owner-only) get the
permissions of the process umask before they are renamed into place, as any
other file the process writes (0644 / 0755 under the usual umask 022): a TF
Serving process of another user can read an exported model. Inside
`guarded_writes(check)`, `check()` runs before each file is put in place and
stops the write by raising (a task whose lease another worker took).
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from tfganaug.errors import UserError


_GUARDS = []  # the checks of `guarded_writes` in force


@contextlib.contextmanager
def guarded_writes(check):
    """Within: every `atomic_path` and `atomic_dir` of this process calls `check()` before it puts its
    output in place; `check` raises to stop the write (the temporary file is removed)."""
    _GUARDS.append(check)
    try:
        yield
    finally:
        _GUARDS.remove(check)


def _umask():
    """The process umask, read without setting it: `os.umask(0)` would, for an instant, let any thread
    (TensorBoard's writer, tf.data) create a world-writable file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # Linux 4.7 and later
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    probe = tempfile.mkdtemp()  # elsewhere: the mode a new file gets
    try:
        os.close(os.open(os.path.join(probe, "probe"), os.O_CREAT | os.O_WRONLY, 0o777))
        return 0o777 & ~os.stat(os.path.join(probe, "probe")).st_mode
    finally:
        shutil.rmtree(probe)


def _fsync(path):
    """Flush `path` (a file or a folder) to the disk: a rename is atomic against kills, and with this
    against a power loss too (the new name never points at data still in the page cache)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def path_component(name):
    """A name given by the data (a class name) as one safe file or folder name: separators and NUL
    become '_', and a leading '.' gets a '_' in front ('T-shirt/top' -> 'T-shirt_top', '..' -> '_..')."""
    name = "".join("_" if c in "/\\\0" else c for c in str(name))
    return f"_{name}" if not name or name.startswith(".") else name


def inside(folder, *parts):
    """`folder / parts...`, refused with a `UserError` unless it lies inside `folder` once resolved: every
    path a command builds from a name given by the user or the data goes through this check."""
    base = Path(folder).resolve()
    path = Path(folder).joinpath(*map(str, parts))
    if not path.resolve().is_relative_to(base) or path.resolve() == base:
        raise UserError(f"{'/'.join(map(str, parts))!r} would lead outside {folder}; use a plain name "
                        "(letters, digits, '-', '_', '.', not starting with '.')")
    return path


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
        for check in list(_GUARDS):
            check()
        os.chmod(tmp, 0o666 & ~_umask())
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
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
        for check in list(_GUARDS):
            check()
        os.chmod(tmp, 0o777 & ~_umask())
        for written in sorted(tmp.rglob("*"), reverse=True):  # files before the folders that hold them
            _fsync(written)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def set_aside(path, reason, log=print, what="rebuilding it"):
    """Move an unreadable state file to `<path>.corrupt` (kept for a look, never read again) and say so
    in one line: a truncated cache or record costs a rebuild, never a crash on every rerun."""
    path = Path(path)
    os.replace(path, f"{path}.corrupt")
    log(f"{path.parent.name}/{path.name} is unreadable; {what} (moved aside as {path.name}.corrupt: {reason})")


def read_json(path, log=print, what="ignoring it"):
    """The JSON in `path`, or None when it is missing or unreadable (truncated by a full disk, edited by
    hand); an unreadable file is set aside (`set_aside`) with `what` is done instead."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        set_aside(path, str(exc).splitlines()[0], log, what)
        return None


LOCK_FILE = "tfganaug.lock"


@contextlib.contextmanager
def folder_lock(folder, block=False, mode=None, lease_seconds=None):
    """Hold `folder/tfganaug.lock` while this process writes into `folder`: a second process is refused
    (`UserError` naming the `host:pid` that holds it), or with `block` waits for it. The lock dies with
    its process, kill -9 included; the file stays (see `tfganaug.sharing.locks`: flock, or a lease on shared
    file systems with `mode` "lease" or `$TFGANAUG_LOCK=lease`)."""
    from tfganaug.sharing.locks import FileLock

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_FILE, mode, lease_seconds)
    if not lock.acquire(block=block):
        raise UserError(f"{folder} is in use by process {lock.holder() or 'unknown'} (another tfganaug command "
                        "writing into it); wait for it to finish, or choose another --out")
    try:
        yield
    finally:
        lock.release()
