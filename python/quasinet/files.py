"""Writing a user's file: the one routine every writer in quasinet goes through.

:func:`atomic_write` writes to a temporary file beside the target and renames it over the
target only once the content is complete, so an interrupt or an error leaves the previous
file as it was (or no file), never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", *, encoding: str = None, newline: str = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` on success.

    ``mode`` is ``"w"`` (text, ``encoding`` default UTF-8) or ``"wb"``. On any exception
    (KeyboardInterrupt included) the temporary file is removed and ``path`` is untouched.
    A new file gets the permissions of an ordinary new file (0666 less the umask).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: no such directory {directory}")
    fd, tmp = tempfile.mkstemp(prefix=".quasinet-", suffix=".tmp", dir=directory)
    try:
        if mode == "wb":
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        with f:
            yield f
        # mkstemp makes the file private (0600); give it the permissions of an ordinary new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
