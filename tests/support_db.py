"""Arranging rows directly in a test server's database.

Task creation over HTTP lands separately, so list tests insert tasks (with evaluators,
projects, datasets, experiments and run configurations) straight into the server's
database. Everything here speaks public ids on the way in and out, like a client would.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from evalplane.core.clock import utcnow
from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.models import (
    AiIntegration,
    ApiKey,
    Dataset,
    Evaluator,
    EvaluatorVersion,
    Experiment,
    Role,
    RoleBinding,
    Task,
    TaskEvaluator,
    User,
)
from evalplane.settings import Settings
from tests.support import Api, Server, unique

R = TypeVar("R")

SEED_SPEC_CANDIDATES = (
    os.environ.get("EVALPLANE_SEED_SPEC", ""),
    str(Path(__file__).resolve().parents[1] / "spec" / "seed_list_tasks.openapi.yaml"),
)


def seed_spec() -> Path:
    """The seed OpenAPI document for GET /v2/tasks (vendored spec/ first, then the shared copy)."""
    for candidate in SEED_SPEC_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError(f"seed spec not found in any of {SEED_SPEC_CANDIDATES}")

TASK_TYPES = ("TEMPLATE_EVALUATION", "CODE_EVALUATION", "RUN_EXPERIMENT")


def num(kind: Kind, public_id: str) -> int:
    return decode_id(kind, public_id)


def llm_generation_config(ai_integration_id: int) -> dict[str, Any]:
    """A run configuration as the server stores it: ids as numbers, enums upper case."""
    return {
        "experiment_type": "LLM_GENERATION",
        "ai_integration_id": ai_integration_id,
        "model_name": "gpt-4o-mini",
        "messages": [
            {"role": "SYSTEM", "content": "Answer briefly."},
            {"role": "USER", "content": "{question}"},
        ],
        "input_variable_format": "F_STRING",
        "invocation_parameters": {"temperature": 0.0, "max_tokens": 64},
        "provider_parameters": {},
    }


def template_evaluation_config(ai_integration_id: int) -> dict[str, Any]:
    return {
        "experiment_type": "TEMPLATE_EVALUATION",
        "ai_integration_id": ai_integration_id,
        "model_name": "gpt-4o",
        "template": "Is {{output}} a correct answer to {{input}}? Reply correct or incorrect.",
        "provide_explanation": True,
        "classification_choices": {"correct": 1, "incorrect": 0},
        "column_mapping": {"input": "question", "output": "answer"},
        "evaluator_version_id": None,
    }


class Db:
    """Direct access to a server's database through its own async driver, on a private loop."""

    def __init__(self, server: Server) -> None:
        url = Settings(database_url=server.database_url).resolved_database_url()
        self.loop = asyncio.new_event_loop()
        self.engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 30} if url.startswith("sqlite") else {})

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()

    def run(self, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
        """Run ``work`` in one transaction and commit it."""

        async def go() -> R:
            async with AsyncSession(self.engine, expire_on_commit=False) as session:
                result = await work(session)
                await session.commit()
                return result

        return self.loop.run_until_complete(go())

    # -- resources tasks point to ---------------------------------------------------------

    def add(self, rows: Sequence[Any]) -> list[Any]:
        async def work(session: AsyncSession) -> list[Any]:
            session.add_all(rows)
            await session.flush()
            return list(rows)

        return self.run(work)

    def dataset(self, space_id: str, name: str | None = None) -> str:
        (row,) = self.add([Dataset(space_id=num(Kind.SPACE, space_id), name=name or unique("ds"))])
        return encode_id(Kind.DATASET, row.id)

    def evaluator(self, space_id: str, name: str | None = None, type: str = "TEMPLATE") -> str:
        async def work(session: AsyncSession) -> int:
            row = Evaluator(space_id=num(Kind.SPACE, space_id), name=name or unique("eval"), type=type)
            session.add(row)
            await session.flush()
            session.add(EvaluatorVersion(evaluator_id=row.id, config={"kind": type}, commit_message="first"))
            return row.id

        return encode_id(Kind.EVALUATOR, self.run(work))

    def experiment(self, space_id: str, dataset_id: str, name: str | None = None) -> str:
        (row,) = self.add(
            [Experiment(space_id=num(Kind.SPACE, space_id), dataset_id=num(Kind.DATASET, dataset_id), name=name or unique("exp"))]
        )
        return encode_id(Kind.EXPERIMENT, row.id)

    def ai_integration(self, name: str | None = None) -> int:
        (row,) = self.add([AiIntegration(name=name or unique("llm"), provider="openAI")])
        return row.id

    # -- tasks ----------------------------------------------------------------------------

    def tasks(self, specs: Iterable[TaskSpec]) -> list[str]:
        """Insert tasks in the given order (so later ones have larger ids); return their ids."""
        specs = list(specs)

        async def work(session: AsyncSession) -> list[int]:
            ids = []
            for spec in specs:
                task = spec.row()
                session.add(task)
                await session.flush()
                for position, attached in enumerate(spec.evaluators):
                    session.add(
                        TaskEvaluator(
                            task_id=task.id,
                            position=position,
                            evaluator_id=num(Kind.EVALUATOR, attached.evaluator_id),
                            query_filter=attached.query_filter,
                            column_mappings=attached.column_mappings,
                        )
                    )
                ids.append(task.id)
            await session.flush()
            return ids

        return [encode_id(Kind.TASK, n) for n in self.run(work)]

    def task(self, spec: TaskSpec) -> str:
        return self.tasks([spec])[0]

    def delete_tasks(self, task_ids: Iterable[str]) -> None:
        numbers = [num(Kind.TASK, t) for t in task_ids]

        async def work(session: AsyncSession) -> None:
            await session.execute(delete(Task).where(Task.id.in_(numbers)))

        self.run(work)

    def count_tasks(self) -> int:
        async def work(session: AsyncSession) -> int:
            return int(await session.scalar(select(func.count()).select_from(Task)) or 0)

        return self.run(work)

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Every task's mutable columns, to prove a rejected request changed nothing."""

        async def work(session: AsyncSession) -> list[tuple[Any, ...]]:
            rows = await session.execute(
                select(Task.id, Task.name, Task.updated_at, Task.last_run_at, Task.space_id).order_by(Task.id)
            )
            return [tuple(r) for r in rows.all()]

        return self.run(work)

    # -- callers --------------------------------------------------------------------------

    def member_key(self, space_levels: dict[str, str]) -> str:
        """A non-admin user bound to the given spaces (public id → ADMIN/MEMBER/READ_ONLY); returns their key."""
        token = "ep_test_" + secrets.token_urlsafe(24)

        async def work(session: AsyncSession) -> None:
            user = User(name=unique("user"), email=f"{unique('u')}@example.com", account_role="MEMBER")
            session.add(user)
            await session.flush()
            session.add(
                ApiKey(
                    key_type="USER",
                    name="test",
                    user_id=user.id,
                    token_hash=hashlib.sha256(token.encode()).hexdigest(),
                    redacted_key=token[:6] + "..." + token[-4:],
                    status="ACTIVE",
                )
            )
            for space_id, level in space_levels.items():
                role_id = await session.scalar(select(Role.id).where(Role.is_predefined.is_(True), Role.level == level))
                session.add(
                    RoleBinding(user_id=user.id, role_id=role_id, resource_type="SPACE", resource_id=num(Kind.SPACE, space_id))
                )

        self.run(work)
        return token


@dataclass
class Attached:
    evaluator_id: str
    query_filter: str | None = None
    column_mappings: dict[str, str] | None = None


@dataclass
class TaskSpec:
    """A task to insert, in public ids."""

    space_id: str
    name: str
    type: str = "TEMPLATE_EVALUATION"
    project_id: str | None = None
    dataset_id: str | None = None
    evaluators: list[Attached] = field(default_factory=list)
    experiment_ids: list[str] = field(default_factory=list)
    run_configuration: dict[str, Any] | None = None
    sampling_rate: float | None = None
    is_continuous: bool = False
    query_filter: str | None = None
    last_run_at: datetime | None = None
    created_by_user_id: int | None = 1

    def row(self) -> Task:
        return Task(
            space_id=num(Kind.SPACE, self.space_id),
            name=self.name,
            type=self.type,
            project_id=None if self.project_id is None else num(Kind.PROJECT, self.project_id),
            dataset_id=None if self.dataset_id is None else num(Kind.DATASET, self.dataset_id),
            sampling_rate=self.sampling_rate,
            is_continuous=self.is_continuous,
            query_filter=self.query_filter,
            run_configuration=self.run_configuration,
            experiment_ids=[num(Kind.EXPERIMENT, e) for e in self.experiment_ids],
            last_run_at=self.last_run_at,
            created_by_user_id=self.created_by_user_id,
        )


@dataclass
class Populated:
    """A space holding tasks of every type, and what they point to."""

    space: dict[str, Any]
    project_ids: list[str]
    dataset_ids: list[str]
    evaluator_ids: list[str]
    experiment_ids: list[str]
    task_ids: dict[str, str]  # task name -> id


def populate_space(api: Api, db: Db, space: dict[str, Any] | None = None) -> Populated:
    """A space with one task of each shape the API has: continuous and backfill template
    evaluations on a project, a code evaluation on a dataset with experiments, and
    run_experiment tasks with each run configuration."""
    space = space or api.space()
    sid = space["id"]
    project = api.project(sid)["id"]
    dataset = db.dataset(sid)
    judge = db.evaluator(sid, "Hallucination judge", "TEMPLATE")
    code = db.evaluator(sid, "Is JSON", "CODE")
    experiments = [db.experiment(sid, dataset), db.experiment(sid, dataset)]
    llm = db.ai_integration()
    ran = utcnow() - timedelta(hours=2)
    specs = [
        TaskSpec(
            sid,
            "Production hallucination check",
            "TEMPLATE_EVALUATION",
            project_id=project,
            evaluators=[
                Attached(judge, "span_kind = 'LLM'", {"input": "attributes.input.value", "output": "attributes.output.value"})
            ],
            sampling_rate=0.25,
            is_continuous=True,
            query_filter="status_code = 'OK'",
            last_run_at=ran,
        ),
        TaskSpec(sid, "Backfill judge", "TEMPLATE_EVALUATION", project_id=project, evaluators=[Attached(judge)], sampling_rate=1.0),
        TaskSpec(
            sid,
            "JSON output check",
            "CODE_EVALUATION",
            dataset_id=dataset,
            evaluators=[Attached(code, None, {"output": "output"}), Attached(judge, None, {"input": "input"})],
            experiment_ids=experiments,
            last_run_at=ran,
            created_by_user_id=None,
        ),
        TaskSpec(
            sid,
            "Generate answers",
            "RUN_EXPERIMENT",
            dataset_id=dataset,
            run_configuration=llm_generation_config(llm),
            last_run_at=ran,
        ),
        TaskSpec(sid, "Judge dataset", "RUN_EXPERIMENT", dataset_id=dataset, run_configuration=template_evaluation_config(llm)),
    ]
    ids = db.tasks(specs)
    return Populated(
        space=space,
        project_ids=[project],
        dataset_ids=[dataset],
        evaluator_ids=[judge, code],
        experiment_ids=experiments,
        task_ids={s.name: i for s, i in zip(specs, ids, strict=True)},
    )
