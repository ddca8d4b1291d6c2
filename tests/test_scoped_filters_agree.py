"""``trace_eval.`` and ``session_eval.`` filter columns: SQL over the real tables and the
in-memory predicate keep the same spans, on SQLite and PostgreSQL (random spans, results, filters)."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from evalplane.db.models import SessionEvaluation, Span, TraceEvaluation
from evalplane.domains.spans import filtering, repository
from tests.support_filters import (  # noqa: F401 - real_spans_db is the real_db fixture
    TIMES,
    RealSpansDb,
    evaluations,
    nums,
    patterns,
    predicates,
    real_spans_db,
    strings,
)

EXAMPLES = int(os.environ.get("EVALPLANE_FILTER_EXAMPLES", "40"))
TRACES = ["1" * 32, "2" * 32, "3" * 32]
SESSIONS = ["s1", "s2"]
NAMES = ["q", "My Eval"]

scoped_text = st.sampled_from(
    ["trace_eval.q.label", 'trace_eval."My Eval".explanation', "session_eval.q.label", "session_eval.q.explanation"]
)
scoped_number = st.sampled_from(["trace_eval.q.score", 'session_eval."My Eval".score', "session_eval.q.score"])
atoms = st.one_of(
    predicates(scoped_text, strings, text_ops=True),
    predicates(scoped_number, nums, text_ops=False),
    st.tuples(
        scoped_text, st.sampled_from(["LIKE", "NOT LIKE"]), patterns.map(lambda p: "'" + p.replace("'", "''") + "'")
    ).map(" ".join),
    st.sampled_from(["span_kind = 'LLM'", "name != 'x'", "eval.q.score > 0"]),
)
scoped_filters = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda e: f"NOT ({e})"),
    ),
    max_leaves=4,
)
spans = st.lists(
    st.tuples(st.sampled_from(TRACES), st.none() | st.sampled_from(SESSIONS), st.sampled_from(["LLM", "CHAIN"])),
    min_size=1,
    max_size=6,
)
results = st.dictionaries(st.sampled_from(NAMES), evaluations, max_size=2)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    layout=spans,
    trace_results=st.dictionaries(st.sampled_from(TRACES), results, max_size=3),
    session_results=st.dictionaries(st.sampled_from(SESSIONS), results, max_size=2),
    texts=st.lists(scoped_filters, min_size=1, max_size=3),
)
def test_sql_and_memory_agree_on_trace_and_session_columns(
    real_db: RealSpansDb,
    layout: list[tuple[str, str | None, str]],
    trace_results: dict[str, dict[str, dict[str, Any]]],
    session_results: dict[str, dict[str, dict[str, Any]]],
    texts: list[str],
) -> None:
    async def work(session: Any, project_id: int) -> list[tuple[str, set[str], set[str]]]:
        rows = [
            {
                "project_id": project_id,
                "trace_id": trace_id,
                "span_id": f"{n:016x}",
                "session_id": session_id,
                "name": f"s{n}",
                "span_kind": kind,
                "status_code": "OK",
                "status_message": "",
                "latency_ms": 1.0,
                "start_time": TIMES[n % len(TIMES)],
                "end_time": TIMES[-1],
                "attributes": {},
                "events": [],
                "resource_attributes": {},
                "ingested_at": TIMES[0],
            }
            for n, (trace_id, session_id, kind) in enumerate(layout)
        ]
        await repository.insert_spans(session, rows)
        for trace_id, named in trace_results.items():
            for name, values in named.items():
                session.add(TraceEvaluation(project_id=project_id, trace_id=trace_id, name=name, **values))
        for session_id, named in session_results.items():
            for name, values in named.items():
                session.add(SessionEvaluation(project_id=project_id, session_id=session_id, name=name, **values))
        await session.flush()
        stored = (await session.scalars(select(Span).where(Span.project_id == project_id))).all()
        documents = {
            span.name: filtering.span_as_filter_dict(
                span,
                (),
                [{"name": k, **v} for k, v in trace_results.get(span.trace_id, {}).items()],
                [{"name": k, **v} for k, v in session_results.get(span.session_id or "", {}).items()],
            )
            for span in stored
        }
        dialect = session.bind.dialect.name
        found = []
        for text in texts:
            where = filtering.span_filter_where(dialect, project_id, text)
            from_sql = set((await session.scalars(select(Span.name).where(where))).all())
            keep = filtering.span_filter_predicate(text)
            found.append((text, from_sql, {name for name, document in documents.items() if keep(document)}))
        return found

    for text, from_sql, in_memory in real_db.run(work):
        assert from_sql == in_memory, text
