"""Fill a fresh evalplane database with many realistic tasks, for the list benchmark.

The schema and the admin user come from the server's own start-up path (migrations and
bootstrap), so the data sits in exactly the tables a real server would create. Everything
else is written with SQLAlchemy Core bulk inserts: this is arrangement, not what we measure.

    python bench/seed_tasks.py --database-url sqlite:////tmp/evalplane-bench/sqlite/evalplane.db \
        --api-key ep_bench_key --tasks 100000 --spaces 200

The database must be empty (or already seeded with the same shape, which is then reused).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from evalplane.api.app import start
from evalplane.db.models import (
    Dataset,
    Evaluator,
    EvaluatorVersion,
    Organization,
    Project,
    ServerState,
    Space,
    Task,
    TaskEvaluator,
)
from evalplane.settings import Settings

MARKER_KEY = "bench_seed"
CHUNK = 5_000

# Task names are built from these, so a `name=` substring matches a known share of tasks.
TOPICS = (
    "hallucination",
    "toxicity",
    "relevance",
    "groundedness",
    "qa-correctness",
    "summary-quality",
    "tone",
    "pii-leak",
    "json-valid",
    "refusal",
    "citation",
    "latency-regress",
    "sql-correct",
    "code-exec",
    "rag-recall",
    "helpfulness",
    "bias",
    "jailbreak",
    "translation",
    "sentiment",
)
SURFACES = ("chatbot", "search", "support-agent", "checkout", "onboarding", "docs-bot", "triage", "sales-copilot")
TYPES = (("TEMPLATE_EVALUATION", 0.6), ("CODE_EVALUATION", 0.3), ("RUN_EXPERIMENT", 0.1))
FILTERS = (
    None,
    "span_kind = 'LLM'",
    "attributes.llm.model_name = 'gpt-4o' AND status_code = 'OK'",
    "span_kind IN ('LLM','AGENT') AND latency_ms > 5000",
    "attributes.metadata.env = 'prod'",
)
MANAGED_CODE = ("MATCHES_REGEX", "JSON_PARSEABLE", "CONTAINS_ANY_KEYWORD", "CONTAINS_ALL_KEYWORDS", "EXACT_MATCH")

PROJECTS_PER_SPACE = 5
DATASETS_PER_SPACE = 4
EVALUATORS_PER_SPACE = 10


def marker_value(tasks: int, spaces: int) -> str:
    return f"v1 tasks={tasks} spaces={spaces}"


def pick_type(rng: random.Random) -> str:
    roll = rng.random()
    acc = 0.0
    for name, share in TYPES:
        acc += share
        if roll < acc:
            return name
    return TYPES[-1][0]


async def seed(database_url: str, api_key: str, n_tasks: int, n_spaces: int, home: Path) -> str:
    """Seed and return 'seeded' or 'reused'."""
    home.mkdir(parents=True, exist_ok=True)
    if database_url.startswith("sqlite:///"):
        Path(database_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=home, database_url=database_url, bootstrap_api_key=api_key, log_level="warning")
    state = await start(settings)  # migrations + bootstrap, exactly as `evalplane serve` does
    engine = state.db.engine
    want = marker_value(n_tasks, n_spaces)
    try:
        async with engine.connect() as conn:
            marker = await conn.scalar(select(ServerState.value).where(ServerState.key == MARKER_KEY))
            existing = await conn.scalar(select(func.count()).select_from(Task))
        if marker == want:
            return "reused"
        if existing:
            raise SystemExit(
                f"the database already holds {existing} tasks but no matching seed marker; use a fresh one"
            )

        rng = random.Random(20240601)
        t0 = time.perf_counter()
        base = datetime(2025, 1, 1, tzinfo=UTC)
        async with engine.begin() as conn:
            org_id = await conn.scalar(select(Organization.id).order_by(Organization.id).limit(1))
            admin_id = await conn.scalar(text("SELECT id FROM users ORDER BY id LIMIT 1"))

            spaces = [
                {
                    "organization_id": org_id,
                    "name": f"bench-space-{i:03d}",
                    "description": "",
                    "is_private": False,
                    "created_at": base,
                    "updated_at": base,
                }
                for i in range(n_spaces)
            ]
            await conn.execute(insert(Space), spaces)
            space_ids = list(
                (await conn.scalars(select(Space.id).where(Space.name.like("bench-space-%")).order_by(Space.id))).all()
            )

            await conn.execute(
                insert(Project),
                [
                    {
                        "space_id": s,
                        "name": f"{surface}-prod",
                        "description": "",
                        "created_at": base,
                        "updated_at": base,
                    }
                    for s in space_ids
                    for surface in SURFACES[:PROJECTS_PER_SPACE]
                ],
            )
            await conn.execute(
                insert(Dataset),
                [
                    {
                        "space_id": s,
                        "name": f"golden-set-{k}",
                        "description": "",
                        "created_by_user_id": admin_id,
                        "created_at": base,
                        "updated_at": base,
                    }
                    for s in space_ids
                    for k in range(DATASETS_PER_SPACE)
                ],
            )
            await conn.execute(
                insert(Evaluator),
                [
                    {
                        "space_id": s,
                        "name": f"{TOPICS[k]}-judge",
                        "description": None,
                        "type": "TEMPLATE" if k % 3 else "CODE",
                        "created_by_user_id": admin_id,
                        "created_at": base,
                        "updated_at": base,
                    }
                    for s in space_ids
                    for k in range(EVALUATORS_PER_SPACE)
                ],
            )
            projects: dict[int, list[int]] = {}
            for pid, sid in (
                await conn.execute(select(Project.id, Project.space_id).where(Project.space_id.in_(space_ids)))
            ).all():
                projects.setdefault(sid, []).append(pid)
            datasets: dict[int, list[int]] = {}
            for did, sid in (
                await conn.execute(select(Dataset.id, Dataset.space_id).where(Dataset.space_id.in_(space_ids)))
            ).all():
                datasets.setdefault(sid, []).append(did)
            evaluators: dict[int, list[int]] = {}
            evaluator_rows = (
                await conn.execute(select(Evaluator.id, Evaluator.space_id).where(Evaluator.space_id.in_(space_ids)))
            ).all()
            for eid, sid in evaluator_rows:
                evaluators.setdefault(sid, []).append(eid)
            await conn.execute(
                insert(EvaluatorVersion),
                [
                    {
                        "evaluator_id": eid,
                        "commit_message": "initial",
                        "created_by_user_id": admin_id,
                        "config": {
                            "template": "Is the answer {output} grounded in {context}?",
                            "classification_choices": {"yes": 1, "no": 0},
                        },
                        "created_at": base,
                        "updated_at": base,
                    }
                    for eid, _ in evaluator_rows
                ],
            )
            versions: dict[int, int] = dict(
                (await conn.execute(select(EvaluatorVersion.evaluator_id, EvaluatorVersion.id))).all()
            )

        # Tasks arrive interleaved across spaces, as on a real shared server.
        per_space_count: dict[int, int] = {}
        task_rows: list[dict[str, Any]] = []
        link_plan: list[list[int]] = []
        for i in range(n_tasks):
            sid = space_ids[rng.randrange(len(space_ids))]
            seq = per_space_count[sid] = per_space_count.get(sid, 0) + 1
            kind = pick_type(rng)
            topic = TOPICS[rng.randrange(len(TOPICS))]
            surface = SURFACES[rng.randrange(len(SURFACES))]
            created = base + timedelta(seconds=30 * i)
            row: dict[str, Any] = {
                "space_id": sid,
                "name": f"{topic} on {surface} #{seq}",
                "type": kind,
                "project_id": None,
                "dataset_id": None,
                "sampling_rate": None,
                "is_continuous": False,
                "query_filter": None,
                "query_filters": None,
                "run_configuration": None,
                "experiment_ids": [],
                "last_run_at": None,
                "created_by_user_id": admin_id,
                "created_at": created,
                "updated_at": created,
            }
            if kind == "RUN_EXPERIMENT" or rng.random() < 0.15:
                row["dataset_id"] = rng.choice(datasets[sid])
                row["experiment_ids"] = [rng.randrange(1, 10_000) for _ in range(rng.randrange(0, 3))]
            else:
                row["project_id"] = rng.choice(projects[sid])
                row["sampling_rate"] = rng.choice((0.1, 0.25, 0.5, 1.0))
                row["is_continuous"] = rng.random() < 0.5
                row["query_filter"] = rng.choice(FILTERS)
                if row["query_filter"] and rng.random() < 0.5:
                    row["query_filters"] = {"filters": [row["query_filter"]]}
            if kind == "RUN_EXPERIMENT":
                row["run_configuration"] = {
                    "experiment_type": "LLM_GENERATION",
                    "ai_integration_id": rng.randrange(1, 50),
                    "model_name": rng.choice(("gpt-4o-mini", "claude-3-5-haiku", "llama-3.1-70b")),
                    "input_variable_format": "F_STRING",
                    "messages": [
                        {"role": "SYSTEM", "content": "You answer support questions briefly."},
                        {"role": "USER", "content": "{question}"},
                    ],
                    "invocation_parameters": {"temperature": 0.2, "max_tokens": 512},
                }
            if rng.random() < 0.4:
                row["last_run_at"] = created + timedelta(hours=rng.randrange(1, 2000))
            task_rows.append(row)
            link_plan.append(rng.sample(evaluators[sid], rng.randint(1, 3)))

        async with engine.begin() as conn:
            for start_at in range(0, len(task_rows), CHUNK):
                await conn.execute(insert(Task), task_rows[start_at : start_at + CHUNK])
        async with engine.connect() as conn:
            task_ids = list(
                (await conn.scalars(select(Task.id).where(Task.space_id.in_(space_ids)).order_by(Task.id))).all()
            )
        assert len(task_ids) == n_tasks, (len(task_ids), n_tasks)

        links: list[dict[str, Any]] = []
        for task_id, evaluator_ids in zip(task_ids, link_plan, strict=True):
            for position, eid in enumerate(evaluator_ids):
                links.append(
                    {
                        "task_id": task_id,
                        "position": position,
                        "evaluator_id": eid,
                        "evaluator_version_id": versions.get(eid) if rng.random() < 0.5 else None,
                        "query_filter": "span_kind = 'LLM'" if rng.random() < 0.2 else None,
                        "column_mappings": {"output": "attributes.output.value", "input": "attributes.input.value"},
                        "query_mappings": None,
                    }
                )
        async with engine.begin() as conn:
            for start_at in range(0, len(links), CHUNK):
                await conn.execute(insert(TaskEvaluator), links[start_at : start_at + CHUNK])
            await conn.execute(insert(ServerState), [{"key": MARKER_KEY, "value": want}])
        async with engine.connect() as conn:
            # Fresh statistics, as autovacuum (PostgreSQL) would gather shortly after a bulk load.
            if engine.dialect.name == "postgresql":
                await conn.execute(text("ANALYZE"))
            await conn.commit()
        print(
            f"seeded {n_tasks} tasks, {len(links)} evaluator links in {n_spaces} spaces "
            f"in {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )
        return "seeded"
    finally:
        await state.db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="sqlite:///path or postgresql://...")
    parser.add_argument("--api-key", required=True, help="the admin key to bootstrap with")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--spaces", type=int, default=200)
    parser.add_argument("--home", type=Path, default=Path("/tmp/evalplane-bench/home"))
    args = parser.parse_args(argv)
    print(asyncio.run(seed(args.database_url, args.api_key, args.tasks, args.spaces, args.home)))


if __name__ == "__main__":
    main()
