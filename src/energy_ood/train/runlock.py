"""The lock of a run folder: ``.energy-ood.lock``, held with ``flock`` for as long as the run
writes, and naming its holder (pid, host, start time) for the message a second writer gets.

* Atomic: the kernel's ``flock`` decides, never the file's content; a second writer started at
  the same moment fails at once, even while the first is still writing its name.
* A holder that died (SIGKILL, power loss) holds no ``flock``: its lock is taken over, with a
  note. A lock naming a live process on this host, or any process on another host, written by
  an older energy-ood that did not ``flock``, is still respected.
* Anything but a regular file in place of the lock (a FIFO, a device, a link) is refused
  without opening it for reading, so nothing can hang.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import time
from pathlib import Path

from .._validate import InputError
from ..io.regular_files import check_mode
from ..runtime.progress import log

LOCK = ".energy-ood.lock"
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class HeldLock:
    """A lock this process holds; :meth:`release` removes the file and drops the ``flock``."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if _same_file(self.path, self.fd):  # not replaced by hand in the meantime
                self.path.unlink()
        except OSError:
            pass
        finally:
            os.close(self.fd)
            self.fd = None


def _same_file(path: Path, fd: int) -> bool:
    try:
        a, b = os.stat(path, follow_symlinks=False), os.fstat(fd)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _open(lock: Path) -> int:
    try:
        st = os.lstat(lock)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InputError(f"{lock}: cannot check the lock file ({e.strerror or e})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        _refuse_kind(lock, st)
    try:
        fd = os.open(lock, _FLAGS, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(
                f"{lock}: a symbolic link in place of the lock file; remove it"
            ) from None
        raise InputError(f"{lock}: cannot open the lock file ({e.strerror or e})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # replaced between the lstat and the open
        os.close(fd)
        _refuse_kind(lock, st)
    os.set_blocking(fd, True)
    return fd


def _refuse_kind(lock: Path, st: os.stat_result):
    try:
        check_mode(lock, st, "lock file")
    except InputError as e:
        raise InputError(f"{e}; remove it to use this folder") from None
    raise InputError(f"{lock}: not a regular file; remove it to use this folder")


def _holder(fd: int) -> dict | None:
    """The holder recorded in the lock file; None when empty or unreadable."""
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data.decode())
        return {"pid": int(holder["pid"]), "host": str(holder["host"])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _busy(folder: Path, lock: Path, holder: dict | None) -> InputError:
    who = f"pid {holder['pid']} on {holder['host']}" if holder else "a process starting now"
    return InputError(
        f"{folder}: in use by another energy-ood process ({who}); wait for it to finish, "
        f"or remove {lock} if that process is gone"
    )


def take_lock(folder: Path) -> HeldLock:
    """Lock ``folder`` for this process, or an InputError naming the holder."""
    lock = folder / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(50):
        fd = _open(lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise _busy(folder, lock, holder) from None
        if not _same_file(lock, fd):  # released (removed) between our open and flock
            os.close(fd)
            continue
        held = HeldLock(lock, fd)
        old = _holder(fd)
        if old is not None and old["pid"] != me["pid"]:
            if old["host"] != me["host"] or _alive(old["pid"]):  # an older writer, no flock
                os.close(fd)
                raise _busy(folder, lock, old)
            log(f"{folder}: taking over a stale lock left by pid {old['pid']} on {old['host']}")
        elif old is None and os.fstat(fd).st_size:
            log(f"{folder}: taking over a stale, unreadable lock")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        return held
    raise InputError(f"{folder}: could not take the lock {lock} (it keeps changing)")
