"""A scratch span table for filter tests, on SQLite or PostgreSQL, plus random spans and filters."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    insert,
    select,
)

from evalplane.db.engine import make_engine
from evalplane.db.types import JSONDocument, UtcDateTime
from evalplane.filters import SqlResolver, parse, to_sql
from tests.support import create_pg_database, drop_pg_database

metadata = MetaData()
spans = Table(
    "scratch_spans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text),
    Column("span_kind", Text),
    Column("status_code", Text),
    Column("status_message", Text),
    Column("latency_ms", Float),
    Column("start_time", UtcDateTime),
    Column("end_time", UtcDateTime),
    Column("parent_id", Text),
    Column("trace_id", Text),
    Column("span_id", Text),
    Column("attributes", JSONDocument),  # written as the real spans table writes it
)
span_evals = Table(
    "scratch_span_evals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("span_ref", Integer, ForeignKey("scratch_spans.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("label", Text),
    Column("score", Float),
    Column("explanation", Text),
)

TEXT_COLUMNS = ("name", "span_kind", "status_code", "status_message", "parent_id")


def eval_lookup(evaluator: str, field: str) -> Any:
    return (
        select(span_evals.c[field])
        .where(span_evals.c.span_ref == spans.c.id, span_evals.c.name == evaluator)
        .scalar_subquery()
    )


def resolver(dialect: str) -> SqlResolver:
    columns = {name: spans.c[name] for name in (*TEXT_COLUMNS, "latency_ms", "start_time", "end_time")}
    columns |= {"context.trace_id": spans.c.trace_id, "context.span_id": spans.c.span_id}
    return SqlResolver(dialect=dialect, columns=columns, attributes=spans.c.attributes, evals=eval_lookup)


class ScratchDb:
    """An async engine driven from synchronous tests (hypothesis cannot drive coroutines)."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.pg_name: str | None = None
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'filters.db'}"
        else:
            self.pg_name, plain = create_pg_database()
            url = "postgresql+asyncpg://" + plain.split("://", 1)[1]
        self.runner = asyncio.Runner()
        self.engine = make_engine(url)
        self.resolver = resolver(self.engine.dialect.name)
        self.runner.run(self._create())

    async def _create(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    def close(self) -> None:
        self.runner.run(self.engine.dispose())
        self.runner.close()
        if self.pg_name:
            drop_pg_database(self.pg_name)

    def matching(self, rows: list[Mapping[str, Any]], filters: Iterable[str]) -> list[set[int]]:
        """Ids of ``rows`` each filter keeps, inside a transaction that is rolled back."""
        return self.runner.run(self._matching(rows, list(filters)))

    async def _matching(self, rows: list[Mapping[str, Any]], filters: list[str]) -> list[set[int]]:
        async with self.engine.connect() as conn:
            tx = await conn.begin()
            try:
                if rows:
                    await conn.execute(insert(spans), [span_row(i, r) for i, r in enumerate(rows, 1)])
                    evals = [eval_row(i, name, e) for i, r in enumerate(rows, 1) for name, e in r["evals"].items()]
                    if evals:
                        await conn.execute(insert(span_evals), evals)
                found = []
                for text in filters:
                    where = to_sql(parse(text), self.resolver)
                    found.append(set((await conn.execute(select(spans.c.id).where(where))).scalars()))
                return found
            finally:
                await tx.rollback()


DATABASES = [d.strip() for d in os.environ.get("EVALPLANE_TEST_DATABASES", "sqlite,postgres").split(",") if d.strip()]


@pytest.fixture(scope="module", params=DATABASES, name="db")
def scratch_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDb]:
    """A scratch span table on each test database (import this fixture into a test module)."""
    scratch = ScratchDb(request.param, tmp_path_factory.mktemp(f"filters-{request.param}"))
    yield scratch
    scratch.close()


def span_row(span_id: int, span: Mapping[str, Any]) -> dict[str, Any]:
    row = {name: span[name] for name in (*TEXT_COLUMNS, "latency_ms", "start_time", "end_time", "attributes")}
    return row | {"id": span_id, "trace_id": span["context"]["trace_id"], "span_id": span["context"]["span_id"]}


def eval_row(span_id: int, name: str, evaluation: Mapping[str, Any]) -> dict[str, Any]:
    return {"span_ref": span_id, "name": name, **{k: evaluation.get(k) for k in ("label", "score", "explanation")}}


# -- random spans -------------------------------------------------------------------------------

WORDS = ["", "a", "A", "ab", "aB", "abc", "b", "a%b", "a_b", "it's", "\\", "x*y", "[a]", "é", "日本", "LLM", "ERROR"]
WORDS += ["a\nb", " a", "ab ", "AGENT", "OK"]
texts = st.one_of(st.sampled_from(WORDS), st.text(alphabet="aAbé_%\\'\" \n*?[]日", max_size=4))
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -2.5, 0.1, 1.5, 1e10, 2.0, -0.0, 123456789]))
TIMES = [datetime(2024, 5, 1, h, m, tzinfo=UTC) for h, m in ((0, 0), (12, 0), (12, 30), (23, 59))]
KEYS = ["a", "b", "0", "1", "01", "x y", "é", "llm", "a.b"]

# Strings that read as numbers when compared with one (values.NUMERIC_TEXT), and near misses.
numeric_texts = st.one_of(
    numbers.map(lambda n: repr(n) if isinstance(n, float) and "e" not in repr(n) else str(n)),
    st.sampled_from(["007", "-0", "1.", ".5", "1e3", " 1", "+1", "1.2.3", "--1", "NaN", "12345678901234567", "0.10"]),
    st.text(alphabet="0123-.5", min_size=1, max_size=5),
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, texts, numeric_texts)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=8,
)
evaluations = st.fixed_dictionaries(
    {}, optional={"label": st.none() | texts, "score": st.none() | numbers, "explanation": st.none() | texts}
)


@st.composite
def span_dicts(draw: st.DrawFn) -> dict[str, Any]:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    return {
        **{name: maybe(texts) for name in TEXT_COLUMNS},
        "latency_ms": maybe(numbers),
        "start_time": maybe(st.sampled_from(TIMES)),
        "end_time": maybe(st.sampled_from(TIMES)),
        "context": {"trace_id": maybe(texts), "span_id": maybe(texts)},
        "attributes": maybe(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)),
        "evals": draw(st.dictionaries(st.sampled_from(["q", "My Eval"]), evaluations, max_size=2)),
    }


# -- random filters -----------------------------------------------------------------------------


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def segment(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", key) else '"' + key.replace('"', '""') + '"'


def number(value: float) -> str:
    return repr(value)


strings = texts.map(quote)
nums = numbers.map(number)
bools = st.sampled_from(["TRUE", "FALSE", "true"])
patterns = st.one_of(
    st.sampled_from(["%", "a%", "%b", "_", "a_", "\\%", "%\\_%", "A%", "", "%é%", "\\", "[a]%", "*", "?", "%\n%"]),
    st.text(alphabet="a%_\\*?[Aé\n", max_size=4),
).map(quote)
ORDERING = ["=", "!=", "<", "<=", ">", ">=", "<>", "=="]


def in_list(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=3).map(lambda vs: "(" + ", ".join(vs) + ")")


def predicates(columns: st.SearchStrategy[str], values: st.SearchStrategy[str], text_ops: bool) -> Any:
    options = [
        st.tuples(columns, st.sampled_from(ORDERING), values).map(" ".join),
        st.tuples(columns, st.sampled_from(["IN", "NOT IN", "in"]), in_list(values)).map(" ".join),
        st.tuples(columns, st.sampled_from(["IS NULL", "IS NOT NULL"])).map(" ".join),
    ]
    if text_ops:
        options += [
            st.tuples(columns, st.sampled_from(["LIKE", "NOT LIKE"]), patterns).map(" ".join),
            st.tuples(columns, st.sampled_from(["CONTAINS", "NOT CONTAINS"]), strings).map(" ".join),
        ]
    return st.one_of(options)


text_columns = st.sampled_from(
    [*TEXT_COLUMNS, "context.trace_id", "context.span_id", "eval.q.label", 'eval."My Eval".explanation']
)
number_columns = st.sampled_from(["latency_ms", "eval.q.score", 'eval."My Eval".score'])
time_columns = st.sampled_from(["start_time", "end_time"])
attribute_columns = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(
    lambda keys: "attributes." + ".".join(segment(k) for k in keys)
)

atoms = st.one_of(
    predicates(text_columns, strings, text_ops=True),
    predicates(number_columns, nums, text_ops=False),
    predicates(time_columns, st.sampled_from(TIMES).map(lambda t: quote(t.isoformat())), text_ops=False),
    predicates(attribute_columns, strings, text_ops=True),
    predicates(attribute_columns, nums, text_ops=False),
    st.tuples(attribute_columns, st.sampled_from(["=", "!="]), bools).map(" ".join),
    st.tuples(attribute_columns, st.sampled_from(["IN", "NOT IN"]), in_list(bools)).map(" ".join),
    st.tuples(attribute_columns, st.sampled_from(["CONTAINS", "NOT CONTAINS"]), st.one_of(nums, bools)).map(" ".join),
)
filters = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR", "and", "or"]), inner).map(" ".join),
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda e: f"NOT ({e})"),
        inner.map(lambda e: f"NOT {e}"),
    ),
    max_leaves=5,
)


# -- the real spans table -----------------------------------------------------------------------
# Random spans stored in ``spans`` / ``span_evaluations`` through the repository ingestion uses,
# and filters that also reach into ``metadata`` (stored as an object, see domains/spans/openinference).

metadata_columns = st.lists(st.sampled_from(KEYS), min_size=1, max_size=2).map(
    lambda keys: "metadata." + ".".join(segment(k) for k in keys)
)
annotations = st.fixed_dictionaries(
    {}, optional={"label": st.none() | texts, "score": st.none() | numbers, "text": st.none() | texts}
)
ANNOTATION_NAMES = ["q", "My Note"]
stored_atoms = st.one_of(
    atoms,
    predicates(st.sampled_from(["annotation.q.label", 'annotation."My Note".text']), strings, text_ops=True),
    predicates(st.sampled_from(["annotation.q.score", 'annotation."My Note".score']), nums, text_ops=False),
    predicates(metadata_columns, strings, text_ops=True),
    predicates(metadata_columns, nums, text_ops=False),
    st.tuples(metadata_columns, st.sampled_from(["CONTAINS", "NOT CONTAINS"]), st.one_of(nums, bools)).map(" ".join),
)
stored_filters = st.recursive(
    stored_atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(" ".join),
        inner.map(lambda e: f"NOT ({e})"),
    ),
    max_leaves=5,
)


@st.composite
def stored_span_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A ``spans`` row (fixed columns are NOT NULL there, except parent_id) and its evaluations."""
    attributes = draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4))
    if draw(st.booleans()):
        attributes["metadata"] = draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3))
    return {
        **{name: draw(texts) for name in ("name", "span_kind", "status_code", "status_message", "trace_id", "span_id")},
        "parent_id": draw(st.none() | texts),
        "latency_ms": float(draw(numbers)),
        "start_time": draw(st.sampled_from(TIMES)),
        "end_time": draw(st.sampled_from(TIMES)),
        "attributes": attributes,
        "evals": draw(st.dictionaries(st.sampled_from(["q", "My Eval"]), evaluations, max_size=2)),
        "annotations": draw(st.dictionaries(st.sampled_from(ANNOTATION_NAMES), annotations, max_size=2)),
    }


stored_span_lists = st.lists(stored_span_rows(), max_size=6, unique_by=lambda r: (r["trace_id"], r["span_id"]))


class RealSpansDb:
    """A migrated evalplane database driven from synchronous tests; each check is rolled back."""

    def __init__(self, backend: str, tmp: Path) -> None:
        from tests.support import migrated_database

        self.runner = asyncio.Runner()
        self.db, self.pg_name = self.runner.run(migrated_database(backend, tmp))
        self.space_id = self.runner.run(self._space())

    async def _space(self) -> int:
        from evalplane.db.models import Organization, Space

        async with self.db.session() as session:
            org = Organization(name="filters", description="")
            session.add(org)
            await session.flush()
            space = Space(organization_id=org.id, name="filters", description="", is_private=False)
            session.add(space)
            await session.flush()
            return space.id

    def close(self) -> None:
        self.runner.run(self.db.dispose())
        self.runner.close()
        if self.pg_name:
            drop_pg_database(self.pg_name)

    def compare(self, rows: list[dict[str, Any]], filters: list[str]) -> list[tuple[set[int], set[int], set[int]]]:
        """For each filter, the row numbers kept by: SQL, the predicate over each stored row read
        back, and the predicate over the row as generated (before storage)."""
        return self.runner.run(self._compare(rows, filters))

    def run(self, work: Any) -> Any:
        """Run ``work(session, project_id)`` against an empty project, rolled back afterwards."""
        return self.runner.run(self._in_rolled_back_project(work))

    async def _in_rolled_back_project(self, work: Any) -> Any:
        from sqlalchemy.ext.asyncio import AsyncSession

        from evalplane.domains.spans import repository

        async with self.db.engine.connect() as conn:
            tx = await conn.begin()
            try:
                session = AsyncSession(bind=conn, expire_on_commit=False)
                project_id = await repository.ensure_project(session, self.space_id, "p")
                return await work(session, project_id)
            finally:
                await tx.rollback()

    async def _compare(
        self, rows: list[dict[str, Any]], filters: list[str]
    ) -> list[tuple[set[int], set[int], set[int]]]:
        from evalplane.db.models import Span, SpanAnnotation, SpanEvaluation
        from evalplane.domains.annotations.spans import annotations_for
        from evalplane.domains.spans import filtering, repository

        async def work(session: Any, project_id: int) -> list[tuple[set[int], set[int], set[int]]]:
            stored_rows = [
                {k: v for k, v in r.items() if k not in ("evals", "annotations")}
                | {"project_id": project_id, "events": [], "resource_attributes": {}, "ingested_at": TIMES[0]}
                for r in rows
            ]
            await repository.insert_spans(session, stored_rows)
            stored = list((await session.scalars(select(Span).where(Span.project_id == project_id))).all())
            by_key = {(s.trace_id, s.span_id): s for s in stored}
            for r in rows:
                for name, values in r["evals"].items():
                    span = by_key[(r["trace_id"], r["span_id"])]
                    session.add(SpanEvaluation(span_row_id=span.id, name=name, **values))
                for name, values in r["annotations"].items():
                    span = by_key[(r["trace_id"], r["span_id"])]
                    session.add(SpanAnnotation(span_row_id=span.id, name=name, **values))
            await session.flush()
            evaluations = await repository.evaluations_for(session, [s.id for s in stored])
            notes = await annotations_for(session, [s.id for s in stored])
            number = {by_key[(r["trace_id"], r["span_id"])].id: n for n, r in enumerate(rows)}
            read_back = {
                number[s.id]: filtering.span_as_filter_dict(
                    s, evaluations.get(s.id, []), annotations=notes.get(s.id, [])
                )
                for s in stored
            }
            as_sent = {
                n: filtering.span_as_filter_dict(
                    r,
                    [{"name": k, **v} for k, v in r["evals"].items()],
                    annotations=[{"name": k, **v} for k, v in r["annotations"].items()],
                )
                for n, r in enumerate(rows)
            }
            dialect = session.bind.dialect.name
            found = []
            for text in filters:
                where = filtering.span_filter_where(dialect, project_id, text)
                from_sql = {number[i] for i in (await session.scalars(select(Span.id).where(where))).all()}
                keep = filtering.span_filter_predicate(text)
                found.append(
                    (from_sql, {n for n, s in read_back.items() if keep(s)}, {n for n, s in as_sent.items() if keep(s)})
                )
            return found

        return await self._in_rolled_back_project(work)


@pytest.fixture(scope="module", params=DATABASES, name="real_db")
def real_spans_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealSpansDb]:
    """The real spans tables on each test database (import this fixture into a test module)."""
    real = RealSpansDb(request.param, tmp_path_factory.mktemp(f"span-filters-{request.param}"))
    yield real
    real.close()
