"""stratovec: an embedded vector storage engine, from Python.

    import numpy as np, stratovec
    with stratovec.connect("./db", dim=384, metric="cosine") as db:
        db.upsert(np.arange(1000, dtype=np.uint64), vectors, metadata=[{"lang": "en"}] * 1000)
        db.commit()
        ids, distances = db.search(queries, k=10, filter="lang = 'en'")

Vectors go in as float32 numpy arrays read in place (C-contiguous float32; other dtypes and
layouts are converted once) and come out as numpy arrays that own their memory. Arrow
tables and batches go in and out through the Arrow C data interface (``pyarrow`` >= 14).
Searches, writes, commits and compactions release the GIL. Errors are
:class:`stratovec.Error` subclasses (see :mod:`stratovec.errors`).
"""
from __future__ import annotations

from . import errors
from ._stratovec import NO_ID, Db, Scanner, connect, version
from .errors import (
    AlreadyExists,
    Closed,
    Conflict,
    Corrupt,
    Error,
    Fenced,
    Incompatible,
    InvalidArgument,
    Locked,
    NotFound,
    Poisoned,
    ReadOnly,
    Rejected,
    ResourceExhausted,
    Unavailable,
)

__version__ = version()


def create(uri: str, dim: int, *, metric: str = "cosine", **options) -> Db:
    """Creates a new database at ``uri``; ``AlreadyExists`` if one is there.

    Takes the options of :func:`connect`."""
    return connect(uri, dim=dim, metric=metric, mode="create", **options)


def open(uri: str, *, read_only: bool = False, **options) -> Db:  # noqa: A001 (the module's verb, as in the engine)
    """Opens the existing database at ``uri``; ``NotFound`` if there is none.

    Takes the options of :func:`connect`."""
    return connect(uri, read_only=read_only, mode="open", **options)

__all__ = [
    "NO_ID",
    "Db",
    "Scanner",
    "connect",
    "create",
    "open",
    "errors",
    "version",
    "Error",
    "AlreadyExists",
    "Closed",
    "Conflict",
    "Corrupt",
    "Fenced",
    "Incompatible",
    "InvalidArgument",
    "Locked",
    "NotFound",
    "Poisoned",
    "ReadOnly",
    "Rejected",
    "ResourceExhausted",
    "Unavailable",
]
