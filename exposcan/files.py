"""Opening the files a user names, safely: inputs never block, outputs never clobber inputs.

A user may name anything as a file: a FIFO, a directory, a terminal, a socket,
``/dev/zero``. ``open()`` of a FIFO blocks until a writer comes, and Python
retries it after every signal (PEP 475), so the process then ignores SIGINT and
SIGTERM; opening a device can have effects of its own (a tape rewinds). So an
input (the scope, ``--ae-titles``, a report to resume) is ``stat``-ed first and
anything but a regular file is refused before it is opened; it is then opened
with ``O_NONBLOCK`` (POSIX ``open()``: a FIFO opens at once) and ``fstat``-ed
again on the descriptor actually read, in case the path changed in between.

Outputs are checked the same way: a regular file (or a path that does not exist
yet) or a character device such as ``/dev/null`` (a dry run) or ``/dev/full``;
never a FIFO, socket, directory or block device, and never a file the scan reads
(the scope, the AE title list), however it is reached (symlink, hard link):
files are compared by device and inode.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, BinaryIO

__all__ = [
    "FileIdentity",
    "FileProblem",
    "ReplacingFile",
    "identity",
    "open_regular",
    "open_writable",
    "read_regular",
    "show_path",
]

#: (st_dev, st_ino): the same file, whatever path reached it.
FileIdentity = tuple[int, int]

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class FileProblem(Exception):
    """Why a file cannot be used, as a short phrase (``str(exc)``); callers add the name."""


def show_path(path: str | os.PathLike[str]) -> str:
    """A path as it may appear in a one-line message: ``repr`` if it holds control,
    format or bidi characters (a terminal would act on them), is empty or has
    surrounding spaces (which a message would hide), else as it is."""
    text = os.fsdecode(path)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def identity(path: str | os.PathLike[str]) -> FileIdentity | None:
    """The file ``path`` names now (symlinks followed), or ``None`` if there is none."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def kind_of(mode: int) -> str:
    """What a non-regular file is, in the words of strerror(3) ("Is a directory")."""
    if stat.S_ISDIR(mode):
        return os.strerror(errno.EISDIR)
    if stat.S_ISFIFO(mode):
        return "Is a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "Is a character device"
    if stat.S_ISBLK(mode):
        return "Is a block device"
    if stat.S_ISSOCK(mode):
        return "Is a socket"
    return "Is not a regular file"


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{exc.strerror} (disk full)" if exc.errno == errno.ENOSPC else str(exc.strerror)
    return exc.strerror or str(exc) or type(exc).__name__


def _not_regular(mode: int) -> FileProblem:
    if stat.S_ISDIR(mode):
        return FileProblem(kind_of(mode))
    return FileProblem(f"{kind_of(mode)}, not a regular file")


@contextmanager
def open_regular(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A regular file opened for reading (binary); :class:`FileProblem` otherwise."""
    try:
        before = os.stat(path)
        if not stat.S_ISREG(before.st_mode):
            raise _not_regular(before.st_mode)
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        raise FileProblem(_reason(exc)) from None
    except ValueError:  # an embedded NUL byte
        raise FileProblem("the name holds a NUL byte") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # replaced between stat and open
            raise _not_regular(mode)
        stream = open(fd, "rb", closefd=False)  # noqa: SIM115 - closed below
    except BaseException:
        os.close(fd)
        raise
    try:
        yield stream
    finally:
        stream.close()
        os.close(fd)


def read_regular(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; :class:`FileProblem` otherwise.

    Reads ``limit + 1`` bytes at most, so a file that grows while it is read (or
    lies about its size, as ``/proc`` files do) costs no more memory than that.
    """
    with open_regular(path) as stream:
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise FileProblem(_reason(exc)) from None
    if len(data) > limit:
        raise FileProblem(f"larger than {limit} bytes")
    return data


def open_writable(
    path: str | os.PathLike[str],
    *,
    protect: Mapping[FileIdentity, str] | None = None,
) -> tuple[int, os.stat_result]:
    """A descriptor for writing ``path`` (created if missing, not truncated), blocking
    writes, and what it is: a regular file or a character device.

    ``protect`` maps files that must never be written (the scan's inputs) to what
    they are, for the message (``"the scope file"``).
    """
    protect = protect or {}
    try:
        try:
            before = os.stat(path)
        except FileNotFoundError:
            before = None
        if before is not None:
            _check_output(before, protect)
        fd = os.open(path, _WRITE_FLAGS, 0o666)
    except OSError as exc:
        raise FileProblem(_reason(exc)) from None
    except ValueError:
        raise FileProblem("the name holds a NUL byte") from None
    try:
        info = os.fstat(fd)
        _check_output(info, protect)
        # O_NONBLOCK was for the open only; a terminal's writes must wait, not fail.
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def _check_output(info: os.stat_result, protect: Mapping[FileIdentity, str]) -> None:
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISCHR(info.st_mode)):
        raise FileProblem(
            f"{kind_of(info.st_mode)}; a report goes to a regular file, a device or stdout (-)"
        )
    what = protect.get((info.st_dev, info.st_ino))
    if what is not None:
        raise FileProblem(f"it is {what}: a report never overwrites what the scan reads")


def write_reason(exc: OSError) -> str:
    """An OSError from writing, as a short phrase."""
    return _reason(exc)


# --- whole-document reports: a new version beside the old, renamed over it -----------

_TEMP_MARK = ".exposcan-"
_TEMP_SUFFIX = ".tmp"
#: A temporary file younger than this is never taken for an abandoned one (its
#: writer may be between creating and locking it).
STALE_AFTER_S = 60.0


def temp_prefix(name: str) -> str:
    """How every temporary file for a report called ``name`` begins (at most 100 bytes
    of the name, so that the temporary name stays within NAME_MAX, 255 bytes)."""
    return f".{os.fsdecode(os.fsencode(name)[:100])}{_TEMP_MARK}"


class ReplacingFile:
    """A new version of a report file, written beside it and renamed over it once whole.

    The temporary file, ``.NAME.exposcan-PID-RANDOM.tmp``, is created in the
    target's directory (rename(2) is atomic within one file system) with
    ``O_EXCL`` and the target's permission bits, and is held under an flock(2)
    lock while its writer lives. :meth:`commit` flushes, fsyncs, renames and
    fsyncs the directory: after a crash or ``kill -9`` the path holds the earlier
    report or the new one, whole, never a part. :meth:`discard` removes the
    temporary file. A killed run leaves it behind; a later run writing the same
    path removes those that no live process holds locked and that are older than
    :data:`STALE_AFTER_S`.

    A symlink at the path is followed: the file it names is replaced, the link kept.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, protect: Mapping[FileIdentity, str] | None = None
    ) -> None:
        target = os.fspath(path)
        try:
            if os.path.islink(target):
                target = os.path.realpath(target)
            directory, name = os.path.split(target)
            directory = directory or "."
            try:
                existing: os.stat_result | None = os.stat(target)
            except FileNotFoundError:
                existing = None
            if existing is not None:
                if not stat.S_ISREG(existing.st_mode):
                    raise _not_regular(existing.st_mode)
                _check_output(existing, protect or {})
                if not os.access(target, os.W_OK):  # as open() for writing would refuse
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            remove_abandoned(directory, name)
            self._temp, fd = _create_temp(directory, name)
        except OSError as exc:
            raise FileProblem(_reason(exc)) from None
        except ValueError:
            raise FileProblem("the name holds a NUL byte") from None
        try:
            with contextlib.suppress(OSError):  # a file system without locks: no cleanup
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if existing is not None:
                os.fchmod(fd, stat.S_IMODE(existing.st_mode))
            self.stream: IO[str] = open(fd, "w", encoding="utf-8")  # noqa: SIM115
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
            raise
        self._target = target
        self._directory = directory
        self._done = False

    @property
    def temp_path(self) -> str:
        return self._temp

    def commit(self) -> None:
        """Make the new version the file at the path (raises OSError if it cannot)."""
        if self._done:
            return
        self.stream.flush()
        os.fsync(self.stream.fileno())
        os.replace(self._temp, self._target)
        self._done = True
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(OSError):  # the rename itself on disk
            dirfd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)

    def discard(self) -> None:
        """Drop the new version (an error or interrupt before it was whole)."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(OSError):
            os.unlink(self._temp)


def _create_temp(directory: str, name: str) -> tuple[str, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    prefix = temp_prefix(name)
    for _ in range(16):
        temp = os.path.join(
            directory, f"{prefix}{os.getpid()}-{secrets.token_hex(4)}{_TEMP_SUFFIX}"
        )
        try:
            return temp, os.open(temp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "cannot create a temporary file beside it")


def remove_abandoned(directory: str, name: str, *, now: float | None = None) -> list[str]:
    """Remove temporary files for report ``name`` whose writer is gone; return their paths."""
    prefix, now = temp_prefix(name), time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        ours = entry.name.startswith(prefix) and entry.name.endswith(_TEMP_SUFFIX)
        if ours and _remove_if_abandoned(entry.path, now):
            removed.append(entry.path)
    return removed


def _remove_if_abandoned(path: str, now: float) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return False
        if now - info.st_mtime < STALE_AFTER_S:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # locked: a live run is writing it (or locks do not work here)
        now_there = os.lstat(path)
        if (now_there.st_dev, now_there.st_ino) != (info.st_dev, info.st_ino):
            return False
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
