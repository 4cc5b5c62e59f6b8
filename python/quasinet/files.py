"""Writing a user's file: the one routine every writer in quasinet goes through.

:func:`atomic_write` writes to a temporary file beside the target and renames it over the
target only once the content is complete, so an interrupt or an error leaves the previous
file as it was (or no file), never half of one.

What happens to the file around the content:

- **Permissions.** A file that already exists keeps its permission bits (a 0600 file stays
  0600; its owner and group become the writer's, as with any rename). A new file gets the
  permissions of an ordinary new file, 0666 less the umask: the temporary file is created with
  mode 0666 and the kernel applies the umask (and any default ACL of the directory) itself.
  The process umask is never read or changed (``os.umask`` sets it for every thread at once).
- **Symbolic links.** A path that is a symbolic link (or passes through one) is written
  *through* the link: the file the link points to gets the new content, the link stays a link.
  A link that points nowhere creates the file it names (as ``open(path, "w")`` does).
- **Durability.** The rename is atomic for readers and for interruptions; the data are not
  forced to disk (no ``fsync``), so a power cut may still lose the new content.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from typing import IO, Iterator

__all__ = ["atomic_write", "resolve_target"]

#: Prefix of the temporary files (left behind only if the process is killed mid-write).
TEMP_PREFIX = ".quasinet-"


def resolve_target(path) -> str:
    """The file that writing ``path`` changes: ``path`` with every symbolic link resolved.

    Raises FileNotFoundError if its directory does not exist and IsADirectoryError if it is a
    directory.
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: no such directory {directory}")
    if os.path.isdir(target):
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    return target


def _create_temp(directory: str, mode: int):
    """A new file beside the target, opened for writing with ``mode`` (less the umask), and its name."""
    for _ in range(100):
        name = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(8)}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode), name
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {directory}: 100 names taken")  # pragma: no cover


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", *, encoding: str = None, newline: str = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write. A symbolic link is written through (module docstring).
    mode : {"w", "wb"}
        Text (``encoding`` default UTF-8, ``newline`` as for :func:`open`) or binary.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the target
    is untouched. An existing target keeps its permission bits; a new one gets 0666 less the
    umask.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    target = resolve_target(path)
    try:
        keep_mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        keep_mode = None
    # Private while it is written when it replaces a file (whose bits it takes just before the
    # rename); otherwise the kernel gives it what a new file gets.
    fd, tmp = _create_temp(os.path.dirname(target), 0o600 if keep_mode is not None else 0o666)
    try:
        if mode == "wb":
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        with f:
            yield f
            if keep_mode is not None:
                os.fchmod(f.fileno(), keep_mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
