"""Atomic file writes, with the permissions a plain `open()` would give, and what to say when one fails.

Every file ecgspec writes (images, sidecars, item results, prompts, manifests, build.json, plans,
results) goes through here: a temporary file in the target's folder, renamed into place once
complete, so a reader or a crash sees the old file or the new one, never a part of one. The
temporary file is made by `mkstemp` (0600, meant for secrets) and set to 0666 & ~umask before the
rename, so every output gets the same mode (0644 under the usual umask 022); folders are made
0777 & ~umask. A write that fails (a full disk, a read-only filesystem) removes its temporary file.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["AtomicWriter", "file_mode", "os_error_message", "sweep_temporaries", "write_atomic"]


def _umask() -> int:
    """The process's umask now, read without changing it where the kernel says it (Linux ≥ 4.7):
    `os.umask` can only be read by setting it, which races with threads creating files."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a new output file: what `open()` would give it (0666 & ~umask)."""
    return 0o666 & ~_umask()


class AtomicWriter:
    """A file written to a temporary name in its folder and renamed into place by `commit()`.

    `abort()` (or leaving a `with` block by an exception) removes the temporary file; so does a
    `commit()` that fails (a full disk shows up at the last flush)."""

    def __init__(self, path: str | Path, *, text: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            self.f: IO[Any] = os.fdopen(fd, "w", encoding="utf-8", newline="\n") if text else os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self._unlink()
            raise
        self.done = False

    def write(self, data: Any) -> None:
        try:
            self.f.write(data)
        except OSError as exc:
            named = self._named(exc)
            if named is exc:
                raise
            raise named from exc

    def commit(self) -> None:
        """Flush, set the mode, rename into place; on any failure, remove the temporary file."""
        try:
            self.f.flush()
            os.fchmod(self.f.fileno(), file_mode())
            self.f.close()
            os.replace(self.tmp, self.path)
        except BaseException as exc:
            self.abort()
            named = self._named(exc) if isinstance(exc, OSError) else exc
            if named is exc:
                raise
            raise named from exc
        self.done = True

    def _named(self, exc: OSError) -> OSError:
        """A write's error carries no file name (the fd's is the temporary one): give it the target's."""
        if exc.filename is not None and exc.filename != self.tmp:
            return exc
        return OSError(exc.errno, exc.strerror or os.strerror(exc.errno or 0), str(self.path))

    def abort(self) -> None:
        """Forget the file: the temporary one is removed, the old one (if any) left as it was."""
        if self.done:
            return
        self.done = True
        try:
            self.f.close()  # may fail again flushing what a full disk refused: the file goes anyway
        except OSError:
            pass
        finally:
            self._unlink()

    def _unlink(self) -> None:
        try:
            os.unlink(self.tmp)
        except OSError:
            pass

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with AtomicWriter(path) as w:
        w.write(raw)


_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # `.NAME.XXXXXXXX.tmp`, as AtomicWriter names them


def sweep_temporaries(folder: str | Path, *, recursive: bool = False) -> int:
    """Remove the temporary files that writers killed mid-write (`kill -9`, a lost machine) left in
    `folder`; return how many. Only for a folder no other process is writing into right now."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if recursive and entry.is_dir(follow_symlinks=False):
            removed += sweep_temporaries(entry.path, recursive=True)
        elif _TEMPORARY.match(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


# What a failed write says to the person running the command: the cause in words, then what to do.
_CAUSES = {
    getattr(errno, "EDQUOT", errno.ENOSPC): ("disk quota exceeded", "free some space and run it again"),
    errno.ENOSPC: ("no space left on device", "free some space and run it again"),
    errno.EFBIG: ("file too large (a limit on file size is set: ulimit -f)", "raise the limit and run it again"),
    errno.EACCES: ("permission denied", "choose a folder you may write to, or change its permissions"),
    errno.EPERM: ("operation not permitted", "choose a folder you may write to, or change its permissions"),
    errno.EROFS: ("read-only file system", "choose a folder on a writable file system"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another path"),
    errno.EISDIR: ("is a folder", "choose another path"),
    errno.EEXIST: ("a file of that name is in the way", "move it or choose another path"),
    errno.ENAMETOOLONG: ("file name too long", "choose a shorter path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) and run it again"),
    errno.ENFILE: ("too many open files in the system", "run it again later"),
    errno.EIO: ("input/output error (a failing disk or network filesystem?)", "check the disk and run it again"),
}
EXPECTED_ERRNOS = frozenset(_CAUSES)


def os_error_message(exc: OSError, doing: str = "cannot write") -> str | None:
    """`cannot write PATH: no space left on device; free some space and run it again` for an
    OSError that the environment caused (a full disk, permissions, …); None for any other."""
    if exc.errno not in _CAUSES:
        return None
    cause, fix = _CAUSES[exc.errno]
    where = " → ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    return f"{doing} {where or '(unknown path)'}: {cause}; {fix}"
