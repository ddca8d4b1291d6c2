"""The one filter language over records: dataset examples and experiment runs stored in the real
tables are kept by the same filters in SQL and in memory, on SQLite and PostgreSQL; and the
rules the old record filter broke (numbers, missing values) hold."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from evalplane.db.models import Dataset, DatasetExample, Experiment, ExperimentRun, ExperimentRunEvaluation
from evalplane.domains.datasets.records import example_document_sql, example_record
from evalplane.domains.experiments.records import filter_record, run_document_sql
from evalplane.filters import FilterSyntaxError
from evalplane.filters.records import parse_record_filter, record_filter_sql, record_predicate
from tests.support_filters import (  # noqa: F401 - real_spans_db is the real_db fixture
    RealSpansDb,
    bools,
    evaluations,
    in_list,
    json_values,
    nums,
    predicates,
    real_spans_db,
    segment,
    strings,
)

EXAMPLES = int(os.environ.get("EVALPLANE_FILTER_EXAMPLES", "40"))
# Record keys; SQLite matches JSON keys against the stored text, escapes included, so ASCII only.
KEYS = ["topic", "n", "0", "01", "x y", "a.b", "tags"]
RUN_COLUMNS = ["output", "error", "example_id", "eval.q.label", "eval.q.score", 'eval."My Eval".explanation']


def column(key: str) -> str:
    """A column as written: a key starting with a digit would read as a number, so it is quoted."""
    return '"' + key + '"' if key[0].isdigit() else segment(key)


columns = st.one_of(st.sampled_from(KEYS).map(column), st.sampled_from(RUN_COLUMNS))
atoms = st.one_of(
    predicates(columns, strings, text_ops=True),
    predicates(columns, nums, text_ops=False),
    st.tuples(columns, st.sampled_from(["=", "!="]), bools).map(" ".join),
    st.tuples(columns, st.sampled_from(["IN", "NOT IN"]), in_list(bools)).map(" ".join),
    st.tuples(columns, st.sampled_from(["CONTAINS", "NOT CONTAINS"]), st.one_of(nums, bools)).map(" ".join),
)
record_filters = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda e: f"NOT ({e})"),
    ),
    max_leaves=5,
)
data = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)
texts = st.none() | st.sampled_from(["", "a", "42", "1.5", "x"])
runs = st.fixed_dictionaries(
    {
        "data": data,
        "output": texts,
        "error": texts,
        "example_id": texts,
        "evals": st.dictionaries(st.sampled_from(["q", "My Eval"]), evaluations, max_size=2),
    }
)


async def _kept(session: Any, space_id: int, examples: list[dict], run_rows: list[dict], filters: list[str]) -> Any:
    dialect = session.bind.dialect.name
    dataset = Dataset(space_id=space_id, name="records")
    session.add(dataset)
    await session.flush()
    stored_examples = [DatasetExample(dataset_id=dataset.id, example_id=n + 1, data=d) for n, d in enumerate(examples)]
    experiment = Experiment(space_id=space_id, dataset_id=dataset.id, name="records")
    session.add_all([*stored_examples, experiment])
    await session.flush()
    stored_runs = []
    for r in run_rows:
        run = ExperimentRun(
            experiment_id=experiment.id,
            output=r["output"],
            error=r["error"],
            example_id=r["example_id"],
            data=r["data"],
        )
        session.add(run)
        await session.flush()
        session.add_all(ExperimentRunEvaluation(experiment_run_id=run.id, name=k, **v) for k, v in r["evals"].items())
        stored_runs.append(run)
    await session.flush()
    dataset_id, experiment_id = dataset.id, experiment.id
    session.expire_all()  # read back what was stored, not the objects written
    example_rows = (await session.scalars(select(DatasetExample).where(DatasetExample.dataset_id == dataset_id))).all()
    run_query = select(ExperimentRun).where(ExperimentRun.experiment_id == experiment_id)
    run_rows_back = (await session.scalars(run_query.options(selectinload(ExperimentRun.evaluations)))).all()
    example_doc = example_document_sql(dialect, DatasetExample.__table__.c.data)
    run_doc = run_document_sql(dialect, ExperimentRun.__table__, ExperimentRunEvaluation.__table__)
    found = []
    for text in filters:
        expr = parse_record_filter(text)
        keep = record_predicate(text)
        where = record_filter_sql(expr, dialect, example_doc)
        sql_examples = set(
            (
                await session.scalars(select(DatasetExample.id).where(DatasetExample.dataset_id == dataset_id, where))
            ).all()
        )
        where = record_filter_sql(expr, dialect, run_doc)
        sql_runs = set(
            (
                await session.scalars(
                    select(ExperimentRun.id).where(ExperimentRun.experiment_id == experiment_id, where)
                )
            ).all()
        )
        memory_examples = {row.id for row in example_rows if keep(example_record(row))}
        memory_runs = {row.id for row in run_rows_back if keep(filter_record(row))}
        found.append((text, sql_examples, memory_examples, sql_runs, memory_runs))
    return found


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    examples=st.lists(data, max_size=5),
    run_rows=st.lists(runs, max_size=5),
    filters=st.lists(record_filters, min_size=1, max_size=3),
)
def test_sql_and_memory_keep_the_same_examples_and_runs(
    real_db: RealSpansDb, examples: list[dict], run_rows: list[dict], filters: list[str]
) -> None:
    found = real_db.run(lambda session, _: _kept(session, real_db.space_id, examples, run_rows, filters))
    for text, sql_examples, memory_examples, sql_runs, memory_runs in found:
        assert sql_examples == memory_examples, ("examples", text)
        assert sql_runs == memory_runs, ("runs", text)


RECORD = {"score": "1", "n": 2.5, "topic": "math", "tags": ["a", "7"], "eval.q.label": "ok", "flag": True}


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("score = 1", True),  # a numeric string compared with a number is that number
        ("score > 0.5", True),
        ("score = '1'", True),
        ("n = '2.5'", False),  # compared with a string, only strings match
        ("topic > 1", False),  # 'math' is not a number: unknown
        ("NOT (topic > 1)", False),  # ... and unknown under NOT too
        ("NOT (missing = 'x')", False),  # a missing value is unknown, not unequal
        ("missing IS NULL", True),
        ("NOT (missing = 'x') OR topic = 'math'", True),
        ("tags CONTAINS 7", True),
        ("tags CONTAINS 'a' AND NOT (tags CONTAINS 'b')", True),
        ("eval.q.label = 'ok'", True),
        ("topic LIKE 'ma%' AND flag = TRUE", True),
        ("topic LIKE 'MA%'", False),  # LIKE is case-sensitive
    ],
)
def test_what_a_record_filter_means(text: str, kept: bool) -> None:
    assert record_predicate(text)(RECORD) is kept


@pytest.mark.parametrize(
    ("text", "says", "position"),
    [
        ("topic = ", "expected a value", 8),
        ("topic = 'a' AND", "expected a condition after 'AND'", 15),
        ("(topic = 'a'", "expected ')'", 12),
        ('"a""b" = 1', "double quote", 0),
        ("   ", "must not be empty", 0),
    ],
)
def test_a_bad_record_filter_names_the_position(text: str, says: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_record_filter(text)
    assert says in caught.value.detail and caught.value.position == position
