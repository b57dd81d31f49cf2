"""The exceptions stratovec raises: one class per engine ``ErrorKind``.

Every exception is a :class:`stratovec.Error` with ``.kind`` (the kind's snake_case name,
as in the engine's logs and metrics) and ``.message``. Kinds that have a natural Python
counterpart also derive from it, so ordinary ``except`` clauses work::

    InvalidArgument   -> ValueError     (wrong dimension, NaN, bad filter, bad option)
    NotFound          -> KeyError       (no database at the URI)
    AlreadyExists     -> KeyError       (insert of a live key)
    Unavailable       -> OSError        (a transient storage failure; retry)
    Locked            -> OSError        (another writer holds the directory)
    Rejected          -> PermissionError(the store refused for good)
    ReadOnly          -> PermissionError(a write through a read-only handle)
    ResourceExhausted -> MemoryError    (a limit refused the request; nothing applied)
    Corrupt, Incompatible, Conflict, Poisoned, Fenced, Closed -> Error only
"""
from __future__ import annotations


class Error(Exception):
    """A stratovec error. ``kind`` names what went wrong (``"invalid_argument"``, ...)."""

    kind: str = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would quote the message
        return f"{self.kind}: {self.message}"


def _kind(name: str, doc: str, *bases: type) -> type:
    cls = type("".join(p.capitalize() for p in name.split("_")), (Error, *bases), {"kind": name, "__doc__": doc})
    cls.__module__ = "stratovec.errors"
    return cls


InvalidArgument = _kind("invalid_argument", "Fix the input: dimension, NaN/Inf, k, a filter, an option.", ValueError)
NotFound = _kind("not_found", "The database (or object) does not exist.", KeyError)
AlreadyExists = _kind("already_exists", "The key (or database) already exists; use upsert to replace.", KeyError)
ReadOnly = _kind("read_only", "The database was opened read-only.", PermissionError)
Conflict = _kind("conflict", "Another writer published first; reopen and retry.")
Locked = _kind("locked", "Another writer process holds the database directory.", OSError)
Unavailable = _kind("unavailable", "A transient storage failure; retrying may succeed. Committed data is unaffected.", OSError)
Corrupt = _kind("corrupt", "A file failed its checksum or does not parse; the message names it.")
Incompatible = _kind("incompatible", "Files written by an incompatible format version.")
Poisoned = _kind("poisoned", "An earlier write failed with an unknown outcome; reopen the database.")
Rejected = _kind("rejected", "The store refused the request for good (permissions, configuration).", PermissionError)
Fenced = _kind("fenced", "A newer writer opened the database; this one may no longer publish.")
Closed = _kind("closed", "The handle was closed.")
ResourceExhausted = _kind("resource_exhausted", "A limit refused the request (memory, rows, concurrent searches); nothing was applied.", MemoryError)

_BY_KIND = {c.kind: c for c in (InvalidArgument, NotFound, AlreadyExists, ReadOnly, Conflict, Locked, Unavailable, Corrupt, Incompatible, Poisoned, Rejected, Fenced, Closed, ResourceExhausted)}


def from_kind(kind: str, message: str) -> Error:
    """The exception for an engine error of ``kind`` (used by the native module)."""
    cls = _BY_KIND.get(kind)
    if cls is None:
        err = Error(message)
        err.kind = kind
        return err
    return cls(message)


__all__ = ["Error", "from_kind", *(c.__name__ for c in _BY_KIND.values())]
