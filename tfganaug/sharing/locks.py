"""Locks between processes, on one machine or on a file system many machines share.

Two modes (`lock_mode`), one interface (`FileLock`):

- `flock` (the default): `fcntl.flock` on a lock file. The kernel frees it when its process
  dies, kill -9 included. The file is never deleted: deleting it on release would let a
  process that opened the old file and one that creates a new one both hold "the" lock.
- `lease`: for NFS, Lustre and GPFS, where flock may be a no-op or local to one client. The
  lock is a file made with an exclusive create (atomic on these file systems); its holder
  touches it every `lease_seconds / 4` (a heartbeat thread), and a file untouched for
  `lease_seconds` belongs to a dead holder: the next claimant moves it aside and takes the
  lock. Clocks of the machines must agree to within a small part of `lease_seconds` (NTP). A lease
  whose holder's `host` is this machine and whose `pid` is no longer alive is taken at once (a
  retried task after its killed attempt). A read or `utime` that fails (ESTALE, EIO on NFS) is tried
  again at the next beat: the lease is this process's as long as the file holds its token. A holder
  checks that before anything it writes (`still_held`): a lease lost to another process (a
  heartbeat stalled by SIGSTOP or a suspended job) stops its work with `LeaseLost`.

Each lock file names its holder as `host:pid`, which is what errors and `tfganaug status` show.
"""

import errno
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from tfganaug.errors import UserError

MODES = ("flock", "lease")
MODE_ENV = "TFGANAUG_LOCK"  # read by processes a command starts, so that every lock of a run uses one mode
LEASE_ENV = "TFGANAUG_LEASE_SECONDS"
LEASE_SECONDS = 120.0
NO_FLOCK = (errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP)  # flock on Lustre without -o flock, some NFS mounts
CHECK_TRIES = 3  # reads of a lease file before a holder's check gives up on a failing file system


class LeaseLost(Exception):
    """This process's lease was taken by another process: what it was about to write is another's now."""


def holder_name():
    """This process as a lock holder: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive_here(holder):
    """False when `holder` ("host:pid") names a process of this machine that no longer runs, else True."""
    host, _, pid = str(holder).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: only its lease's age tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


def _flock_call(fd, operation, path):
    """`fcntl.flock`, with a file system that has none turned into a `UserError` that says what to use."""
    try:
        fcntl.flock(fd, operation)
    except BlockingIOError:
        raise
    except OSError as exc:
        if exc.errno not in NO_FLOCK:
            raise
        raise UserError(f"cannot flock {path}: {exc.strerror} (this file system does not support flock: Lustre "
                        f"mounted without -o flock, some NFS); plan the run with `tfganaug plan ... --lock lease` "
                        f"(or set ${MODE_ENV}=lease)") from None


def lock_mode(mode=None):
    """`mode`, else `$TFGANAUG_LOCK`, else "flock"; a `UserError` for any other name."""
    mode = mode or os.environ.get(MODE_ENV) or "flock"
    if mode not in MODES:
        raise UserError(f"lock mode {mode!r} (--lock or ${MODE_ENV}): expected one of {', '.join(MODES)}")
    return mode


def lease_seconds(seconds=None):
    """`seconds`, else `$TFGANAUG_LEASE_SECONDS`, else `LEASE_SECONDS`."""
    value = seconds if seconds is not None else os.environ.get(LEASE_ENV, LEASE_SECONDS)
    try:
        value = float(value)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise UserError(f"lease seconds {seconds if seconds is not None else os.environ.get(LEASE_ENV)!r} "
                        f"(--lease-seconds or ${LEASE_ENV}): expected a positive number of seconds")
    return value


class FileLock:
    """An exclusive lock on `path` between processes (see the module docstring for the modes).

    Args:
        path: the lock file; its folder is made if needed.
        mode: "flock" or "lease" (default: `lock_mode()`).
        seconds: a lease's grace period (default: `lease_seconds()`); unused by flock.
    """

    def __init__(self, path, mode=None, seconds=None):
        self.path, self.mode = Path(path), lock_mode(mode)
        self.seconds = lease_seconds(seconds) if self.mode == "lease" else None
        self._fd, self._token, self._beat, self._stop = None, None, None, threading.Event()
        self.lost = False  # a lease taken over by another process while this one held it (its heartbeat stalled)

    @property
    def held(self):
        return self._fd is not None or self._token is not None

    def acquire(self, block=False, poll=0.5):
        """Take the lock; True when taken. With `block`, wait (checking every `poll` s) until it is free."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not (self._flock() if self.mode == "flock" else self._lease()):
            if not block:
                return False
            time.sleep(poll)
        return True

    def release(self):
        """Give the lock up (a no-op when not held)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # still held: nobody reads a half-cleared name
            _flock_call(self._fd, fcntl.LOCK_UN, self.path)
            os.close(self._fd)
            self._fd = None
        if self._token is not None:
            self._stop.set()
            self._beat.join()
            if self._read().get("token") == self._token:  # never delete a lease another process took over
                self.path.unlink(missing_ok=True)
            self._token = None

    def holder(self):
        """Who holds the lock now (`host:pid`), or None when it is free (or its lease ran out)."""
        if self.held and not self.lost:
            return holder_name()
        if self.mode == "flock":
            if not self.path.exists():
                return None
            fd = os.open(self.path, os.O_RDWR)
            try:
                _flock_call(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, self.path)
                _flock_call(fd, fcntl.LOCK_UN, self.path)
                return None
            except BlockingIOError:
                return os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
        if self._abandoned():
            return None
        return self._read().get("holder", "unknown")

    def still_held(self):
        """Whether this process holds the lock now. A lease is renewed and its file read again (up to
        `CHECK_TRIES` times when the read fails): after a pause longer than the lease, another process
        may own it. A file system that keeps failing leaves the lease as held: nothing says otherwise."""
        if self.mode == "flock":
            return self._fd is not None
        if self._token is None or self.lost:
            return False
        for attempt in range(CHECK_TRIES):
            renewed = self._renew()
            if renewed is not None:
                return renewed
            time.sleep(0.1 * (attempt + 1))
        return True

    def __enter__(self):
        self.acquire(block=True)
        return self

    def __exit__(self, *exc):
        self.release()

    # flock
    def _flock(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            _flock_call(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, self.path)
        except BlockingIOError:
            os.close(fd)
            return False
        except UserError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder_name().encode(), 0)
        self._fd = fd
        return True

    # lease
    def _read(self, path=None):
        try:
            return json.loads(Path(path or self.path).read_text())
        except (OSError, ValueError):
            return {}

    def _stale(self, path=None):
        try:
            return time.time() - os.stat(path or self.path).st_mtime > self.seconds
        except FileNotFoundError:
            return True

    def _abandoned(self, path=None):
        """Stale, or held by a process of this machine that has died (its lease would outlive it)."""
        return self._stale(path) or not _alive_here(self._read(path).get("holder", ""))

    def _lease(self, retry=True):
        token = uuid.uuid4().hex
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return self._break_if_abandoned() and retry and self._lease(retry=False)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps({"holder": holder_name(), "token": token}))
        self._token, self.lost = token, False
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name=f"lease {self.path.name}", daemon=True)
        self._beat.start()
        return True

    def _break_if_abandoned(self):
        """Move a lease nobody renewed for `seconds` (or whose holder died here) aside (one claimant wins
        the rename); put it back when it turns out to have been renewed in between. True when it was
        abandoned (or is gone)."""
        if not self._abandoned():
            return False
        aside = self.path.with_name(f"{self.path.name}.stale-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True  # another claimant was quicker, or its holder let go
        if self._abandoned(aside):
            aside.unlink(missing_ok=True)
            return True
        try:  # a live lease: give it back unless a new one already stands in its place
            os.link(aside, self.path)
        except FileExistsError:
            pass
        aside.unlink(missing_ok=True)
        return False

    def _renew(self):
        """Touch the lease when its file still holds this holder's token: True; False (and `lost`) when
        another process took it or it is gone; None when the file system failed (ESTALE, EIO): unknown."""
        try:
            if json.loads(self.path.read_text()).get("token") == self._token:
                os.utime(self.path)
                return True
        except ValueError:
            pass  # a claimant's file while it is being written: not this holder's
        except FileNotFoundError:
            pass
        except OSError:
            return None
        self.lost = True
        return False

    def _heartbeat(self):
        while not self._stop.wait(self.seconds / 4):
            if self._renew() is False:  # a failed read is tried again at the next beat
                return
