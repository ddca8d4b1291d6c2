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
from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, Table, Text, insert, select

from evalplane.db.engine import make_engine
from evalplane.db.types import JSONValue, UtcDateTime
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
    Column("attributes", JSONValue),
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

json_scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
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
