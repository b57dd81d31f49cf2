"""Types of the native module (re-exported by ``stratovec``)."""
from __future__ import annotations

from types import TracebackType
from typing import Any, Iterator, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

Include = Sequence[Literal["vector", "metadata", "payload"]]
MetadataValue = Union[None, bool, int, float, str, Sequence[Union[None, bool, int, float, str]]]

NO_ID: int
"""The key in ``search``'s ``(nq, k)`` arrays where fewer than ``k`` rows matched (2**64 - 1);
its distance is ``inf``."""

def version() -> str:
    """The engine version the module was built from."""

def connect(
    uri: str,
    *,
    dim: Optional[int] = None,
    metric: Literal["cosine", "l2", "ip"] = "cosine",
    read_only: bool = False,
    mode: Literal["auto", "create", "open"] = "auto",
    m: int = 16,
    ef_construction: int = 200,
    hnsw_codes: Optional[Literal["sq8"]] = None,
    wal_dir: Optional[str] = None,
    memtable_limit_bytes: Optional[int] = None,
    memory_limit_bytes: Optional[int] = None,
    name: Optional[str] = None,
) -> Db:
    """Opens the database at ``uri``, creating it when ``dim`` is given and none exists.

    ``uri``: a local directory (``./db``, ``file:///path``), ``memory://`` (a new in-memory
    store), ``s3://bucket/prefix?endpoint=URL&region=R`` or ``gs://bucket/prefix``
    (credentials from the standard environment, never from the URI).
    ``dim``: the dimension of a new database (checked against an existing one).
    ``metric``: ``"cosine"`` (vectors are normalised on write), ``"l2"`` (squared L2
    distances) or ``"ip"`` (distance ``1 - dot``); checked against an existing database.
    ``read_only``: a read replica: never writes, follows the writer with :meth:`Db.refresh`.
    ``mode``: ``"auto"`` opens, or creates when ``dim`` is given and there is no database;
    ``"create"`` only creates (``AlreadyExists`` if one is there); ``"open"`` only opens.
    ``m``, ``ef_construction``: HNSW parameters of the memtable graph and HNSW segments.
    ``hnsw_codes``: ``"sq8"`` walks HNSW segments on SQ8 codes and rescores with float32.
    ``wal_dir``: a local directory for a write-ahead log (every write durable when it
    returns); without it writes are durable at :meth:`Db.commit`.
    ``memtable_limit_bytes``: commit automatically when uncommitted rows reach this size.
    ``memory_limit_bytes``: refuse writes (``ResourceExhausted``) above this much memory.
    ``name``: the ``db`` label of the engine's metrics.

    Raises ``NotFound`` (no database and no ``dim``), ``InvalidArgument`` (bad option, or
    ``dim``/``metric`` differing from the existing database's), ``Locked`` (another writer
    holds the directory), ``Corrupt``/``Incompatible`` (damaged or newer files),
    ``Unavailable`` (storage).
    """

class Db:
    """A database handle: a writer, or a read-only replica (``read_only=True``).

    Thread-safe: share one handle between threads. ``with connect(...) as db:`` closes it
    (committing what is uncommitted) at the end of the block.
    """

    @property
    def dim(self) -> int:
        """The dimension of every vector."""
    @property
    def metric(self) -> Literal["cosine", "l2", "ip"]:
        """The distance metric."""
    @property
    def read_only(self) -> bool:
        """Whether this handle is a read-only replica."""
    @property
    def uri(self) -> str:
        """The URI the database was opened from."""
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""

    def upsert(
        self,
        ids: npt.ArrayLike,
        vectors: npt.ArrayLike,
        metadata: Optional[Union[Sequence[Optional[dict[str, MetadataValue]]], Any]] = None,
        payloads: Optional[Sequence[Optional[bytes]]] = None,
    ) -> int:
        """Inserts or replaces ``len(ids)`` records, all or nothing; returns the count.

        ``ids``: ``(n,)`` non-negative integer keys (uint64; other integer dtypes are
        converted). ``vectors``: ``(n, dim)`` float32, read in place when C-contiguous
        (other dtypes and layouts are converted once). ``metadata``: ``n`` dicts of
        ``bool | int | float | str | None`` or lists of those, or a ``pyarrow`` Table /
        RecordBatch of ``n`` rows whose columns are the fields. ``payloads``: ``n`` bytes
        objects (or ``None``), stored apart and never read by searches.

        Raises ``InvalidArgument`` (shapes, dimension, NaN/Inf, a zero vector with cosine,
        duplicate keys, a NaN metadata float, an oversized payload), ``ReadOnly``,
        ``ResourceExhausted`` (a memory or row limit; nothing applied).
        """
    def insert(
        self,
        ids: npt.ArrayLike,
        vectors: npt.ArrayLike,
        metadata: Optional[Union[Sequence[Optional[dict[str, MetadataValue]]], Any]] = None,
        payloads: Optional[Sequence[Optional[bytes]]] = None,
    ) -> int:
        """As :meth:`upsert`, but raises ``AlreadyExists`` (nothing applied) if a key is live."""
    def upsert_arrow(self, data: Any, *, id_column: str = "id", vector_column: str = "vector", payload_column: Optional[str] = "payload") -> int:
        """Upserts the rows of a ``pyarrow`` Table, RecordBatch or RecordBatchReader; returns the count.

        Columns: ``id`` (uint64/int64), ``vector`` (``fixed_size_list<float32>[dim]``, or a
        list of float32/float64/float16 of ``dim`` values), optionally ``payload``
        (binary), every other column a metadata field (bool, integers, floats, strings,
        dictionaries and lists of those; a null leaves the field out). Each batch is
        written all or nothing. Raises ``InvalidArgument`` naming the column and row.
        """
    def delete(self, ids: Optional[npt.ArrayLike] = None, *, filter: Optional[str] = None) -> int:
        """Deletes keys ``ids`` or every record matching ``filter``; returns how many were live."""
    def get(self, id: int, *, include: Optional[Include] = None) -> Optional[dict[str, Any]]:
        """The record of ``id`` as ``{"id", "vector" (float32 (dim,)), "metadata", "payload"}``
        (the parts ``include`` asks for; default all), or ``None`` if not live."""
    def __contains__(self, id: int) -> bool: ...
    def count(self, filter: Optional[str] = None) -> int:
        """Live records, or those matching ``filter``."""
    def __len__(self) -> int: ...
    def search(
        self, q: npt.ArrayLike, k: int = 10, *, ef: Optional[int] = None, filter: Optional[str] = None, exact: bool = False
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """The ``k`` nearest records to ``q``: ``(ids, distances)``, closest first.

        ``q``: ``(dim,)`` for one query (results ``(k,)``) or ``(nq, dim)`` for a batch,
        searched in parallel on all cores (results ``(nq, k)``); float32, other dtypes
        converted. ``ef``: HNSW ``ef_search`` (default 64, at least ``k``). ``filter``: the
        filter language, e.g. ``"lang = 'en' AND year >= 2020"``. ``exact``: scan every
        row (ground truth). Missing hits (fewer than ``k`` matches) have id
        :data:`NO_ID` and distance ``inf``. Distances: squared L2 for ``"l2"``,
        ``1 - dot`` for ``"ip"``, ``1 - cosine`` for ``"cosine"``. The arrays own their
        memory (they outlive the ``Db``). Raises ``InvalidArgument`` (dimension, NaN, k,
        filter).
        """
    def _search_loop(
        self, q: npt.ArrayLike, k: int = 10, *, ef: Optional[int] = None, filter: Optional[str] = None
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
        """Benchmark helper: each row of ``q`` searched in turn inside the engine on one
        thread; ``(ids (nq, k), seconds per query (nq,))``."""
    def search_arrow(
        self, q: npt.ArrayLike, k: int = 10, *, ef: Optional[int] = None, filter: Optional[str] = None, include: Optional[Include] = None
    ) -> Any:
        """As :meth:`search`, as a ``pyarrow.Table``: columns ``query`` (uint32, the row of
        ``q``), ``distance``, ``id`` and the parts ``include`` asks for (default
        ``["metadata"]``: one column per metadata field)."""
    def scan(self, filter: Optional[str] = None, *, batch_size: int = 1024, include: Optional[Include] = None) -> Scanner:
        """Every live record (matching ``filter``) as ``pyarrow.RecordBatch``es of at most
        ``batch_size`` rows, over one snapshot. Columns: ``id``, then ``vector``,
        ``payload`` and the metadata fields as ``include`` asks (default vector and
        metadata)."""
    def to_arrow(self, filter: Optional[str] = None, *, batch_size: int = 8192, include: Optional[Include] = None) -> Any:
        """:meth:`scan` read into one ``pyarrow.Table``."""
    def commit(self) -> int:
        """Writes uncommitted records as a segment and publishes a new version; returns it."""
    def compact(self) -> dict[str, int]:
        """Merges segments as the compaction policy says; returns what it did
        (``merges``, ``segments_in``, ``rows_in``, ``rows_out``, ``bytes_in``, ``bytes_out``)."""
    def refresh(self) -> int:
        """A replica: loads the writer's newest version; returns the version now served."""
    def stats(self) -> dict[str, Any]:
        """Version, rows, live and deleted rows, segments and bytes, memtable, log, memory (bytes)."""
    def health(self) -> dict[str, Any]:
        """``{"status": "healthy" | "degraded" | "unhealthy", "reasons": [{"status", "code", "message"}]}``."""
    def close(self) -> None:
        """Commits what is uncommitted (a writer), stops background work and releases the
        handle; later calls raise ``Closed``. Calling it again does nothing."""
    def __enter__(self) -> Db: ...
    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> bool: ...

class Scanner(Iterator[Any]):
    """An iterator of ``pyarrow.RecordBatch`` (see :meth:`Db.scan`)."""

    @property
    def schema(self) -> Any:
        """The ``pyarrow.Schema`` of every batch."""
    def __iter__(self) -> Scanner: ...
    def __next__(self) -> Any: ...
