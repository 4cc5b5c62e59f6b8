"""Writing a model file's bytes: the JSON header and the float64 members, atomically.

The format is described in :mod:`quasinet.io`, which reads and writes whole models. This
module knows nothing of :class:`~quasinet.Network` (it takes the network's specification as a
dict), so that both :mod:`quasinet.network` (``Network.save``) and :mod:`quasinet.io` can use
it without importing each other.
"""

from __future__ import annotations

import json
from typing import Dict

import numpy as np

from .files import atomic_write

FORMAT = "quasinet-model"
#: The newest format version, and every version the loader reads. A file is written in the
#: oldest version that holds its content (version 1 without a posterior), so that files that
#: need nothing new stay readable by older quasinet releases.
VERSION = 4
VERSIONS = (1, 2, 3, 4)


def header(spec: dict, n_params: int, version: int = 1) -> dict:
    """The header of a model file for a network with this specification (``Network.spec()``).

    A float64 network's header carries no ``dtype`` (float64 is what versions 1 and 2 mean); a
    float32 network's carries ``"dtype": "float32"``, which makes the file version 3.
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    spec = dict(spec)
    if spec.get("dtype", "float64") == "float64":
        spec.pop("dtype", None)
    else:
        version = 3
    return dict(format=FORMAT, version=version, n_params=int(n_params), **spec)


def write(path, header: dict, arrays: Dict[str, np.ndarray]) -> None:
    """Write ``header`` (JSON) and ``arrays`` (each stored as little-endian float64) to ``path``.

    Written through :func:`quasinet.files.atomic_write`: a temporary file beside ``path``
    renamed over it, so a reader never sees half a file; an existing file keeps its
    permission bits and a symbolic link is written through.
    """
    try:
        text = json.dumps(header, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the model's header is not plain JSON (info, classes): {exc}") from None
    members = {"header": np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    for key, value in arrays.items():
        members[key] = np.ascontiguousarray(value, dtype="<f8")
    with atomic_write(path, "wb") as f:
        np.savez(f, **members)
