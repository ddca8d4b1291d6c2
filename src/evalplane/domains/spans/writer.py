"""Storing decoded exports, with group commit on a single-writer database.

SQLite takes one write transaction at a time. Under load, exports that arrive while a write
is in progress wait for it anyway; the writer stores all of them in the next transaction.
That is one commit per group instead of one per export, and the index pages that several
exports touch (trace and span ids land all over their indexes) are written to the WAL once
per group instead of once per export, which is most of the write cost once a table has
grown. Each caller still gets its answer only after the commit that holds its spans, so a
200 keeps meaning "durably stored". A lone export is written at once, as before.

PostgreSQL runs concurrent transactions, so there each export is its own transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from evalplane.db.dialect import is_sqlite
from evalplane.db.engine import Database
from evalplane.domains.spans import service
from evalplane.ingest.otlp import DecodedRequest

log = logging.getLogger("evalplane.ingest")

# A group stops growing at this many spans (about 40 MB of decoded rows at ~2 KB a span).
MAX_GROUP_SPANS = 20_000


@dataclass(slots=True)
class _Pending:
    space_id: int
    decoded: DecodedRequest
    spans: int
    stored: asyncio.Future[None]


class SpanWriter:
    def __init__(self, db: Database, max_group_spans: int = MAX_GROUP_SPANS) -> None:
        self.db = db
        self.grouped = is_sqlite(db.engine)
        self.max_group_spans = max_group_spans
        self._queue: deque[_Pending] = deque()
        self._drainer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions the drainer committed (tests read it)

    async def store(self, space_id: int, decoded: DecodedRequest) -> None:
        """Store every decoded span in ``space_id``; returns once they are committed."""
        if not self.grouped:
            async with self.db.session() as session:
                await service.store(session, space_id, decoded)
            return
        stored = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(space_id, decoded, decoded.accepted, stored))
        if self._drainer is None:
            # Its own task: a caller that goes away must not stop the others' writes.
            self._drainer = asyncio.create_task(self._drain())
        await asyncio.shield(stored)

    async def _drain(self) -> None:
        group: list[_Pending] = []
        try:
            while self._queue:
                group = [self._queue.popleft()]
                spans = group[0].spans
                while self._queue and spans + self._queue[0].spans <= self.max_group_spans:
                    spans += self._queue[0].spans
                    group.append(self._queue.popleft())
                await self._write(group)
                group = []
        finally:
            self._drainer = None
            left = [*group, *self._queue]
            self._queue.clear()
            for pending in left:
                if not pending.stored.done():
                    pending.stored.set_exception(RuntimeError("the server stopped before these spans were stored"))

    async def _write(self, group: list[_Pending]) -> None:
        try:
            async with self.db.session() as session:
                for pending in group:
                    await service.store(session, pending.space_id, pending.decoded)
            self.groups += 1
        except Exception as exc:
            if len(group) == 1:
                group[0].stored.set_exception(exc)
                return
            # Nothing of the group was committed: store each export alone, so one that cannot
            # be stored does not fail the others.
            log.warning("a grouped span write failed (%s); storing its %s exports one by one", exc, len(group))
            for pending in group:
                await self._write([pending])
            return
        for pending in group:
            if not pending.stored.done():
                pending.stored.set_result(None)
