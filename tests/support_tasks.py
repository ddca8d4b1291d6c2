"""Arranging what tasks point at — evaluators, datasets, experiments, AI integrations, users —
by writing rows straight into the test server's database, so task tests do not depend on
those resources' endpoints."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from arize._generated.api_client.models import SpanEvaluatorInput, TaskEvaluatorInput
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.models import (
    AiIntegration,
    AiIntegrationScoping,
    ApiKey,
    Dataset,
    DatasetExample,
    DatasetVersion,
    Evaluator,
    EvaluatorVersion,
    Experiment,
    Role,
    RoleBinding,
    TaskRun,
    User,
)
from evalplane.domains.access.service import hash_token
from tests.support import Api, Server, unique

T = TypeVar("T")


def _async_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


# One event loop for all arrangement work, and one engine per database, kept for the run.
_RUNNER = asyncio.Runner()
_ENGINES: dict[str, AsyncEngine] = {}


def in_db(server: Server, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on the server's database."""
    engine = _ENGINES.get(server.database_url)
    if engine is None:
        engine = _ENGINES[server.database_url] = create_async_engine(
            _async_url(server.database_url), poolclass=NullPool
        )

    async def go() -> T:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            result = await work(session)
            await session.commit()
            return result

    return _RUNNER.run(go())


def space_number(space_id: str) -> int:
    return decode_id(Kind.SPACE, space_id)


@dataclass
class EvaluatorRow:
    id: str
    name: str
    version_ids: list[str] = field(default_factory=list)


def evaluator(server: Server, space_id: str, *, kind: str = "TEMPLATE", name: str | None = None, versions: int = 1) -> EvaluatorRow:
    name = name or unique("eval")

    async def work(session: AsyncSession) -> EvaluatorRow:
        row = Evaluator(space_id=space_number(space_id), name=name, type=kind)
        session.add(row)
        await session.flush()
        version_ids = []
        for n in range(versions):
            version = EvaluatorVersion(evaluator_id=row.id, config={"n": n}, commit_message=f"v{n}")
            session.add(version)
            await session.flush()
            version_ids.append(encode_id(Kind.EVALUATOR_VERSION, version.id))
        return EvaluatorRow(encode_id(Kind.EVALUATOR, row.id), name, version_ids)

    return in_db(server, work)


@dataclass
class DatasetRow:
    id: str
    name: str
    version_id: str
    example_ids: list[str]


def dataset(server: Server, space_id: str, *, name: str | None = None, examples: int = 2) -> DatasetRow:
    name = name or unique("ds")

    async def work(session: AsyncSession) -> DatasetRow:
        row = Dataset(space_id=space_number(space_id), name=name, description="")
        session.add(row)
        await session.flush()
        version = DatasetVersion(dataset_id=row.id, name="v1")
        session.add(version)
        await session.flush()
        example_ids = []
        for n in range(examples):
            session.add(DatasetExample(dataset_id=row.id, example_id=n + 1, data={"question": f"q{n}"}, annotations=[]))
            example_ids.append(encode_id(Kind.DATASET_EXAMPLE, n + 1))
        await session.flush()
        return DatasetRow(
            encode_id(Kind.DATASET, row.id), name, encode_id(Kind.DATASET_VERSION, version.id), example_ids
        )

    return in_db(server, work)


def experiment(server: Server, space_id: str, dataset_id: str, *, name: str | None = None) -> str:
    name = name or unique("exp")

    async def work(session: AsyncSession) -> str:
        row = Experiment(space_id=space_number(space_id), dataset_id=decode_id(Kind.DATASET, dataset_id), name=name)
        session.add(row)
        await session.flush()
        return encode_id(Kind.EXPERIMENT, row.id)

    return in_db(server, work)


def ai_integration(server: Server, *, space_ids: list[str] | None = None) -> str:
    """An OpenAI integration; account-wide unless limited to ``space_ids``."""

    async def work(session: AsyncSession) -> str:
        row = AiIntegration(name=unique("llm"), provider="OPENAI", model_names=["gpt-4o"])
        session.add(row)
        await session.flush()
        for space_id in space_ids or []:
            session.add(AiIntegrationScoping(integration_id=row.id, space_id=space_number(space_id)))
        await session.flush()
        return encode_id(Kind.AI_INTEGRATION, row.id)

    return in_db(server, work)


def set_run_status(server: Server, run_id: str, status: str) -> None:
    """Stand in for the engine, which does not exist yet, by moving a run directly."""

    async def work(session: AsyncSession) -> None:
        run = await session.get(TaskRun, decode_id(Kind.TASK_RUN, run_id))
        assert run is not None
        run.status = status

    in_db(server, work)


def user_key(server: Server, space_id: str, level: str) -> str:
    """A new non-admin user bound to ``space_id`` at ``level`` (READ_ONLY, MEMBER, ADMIN); returns their key."""
    token = "ep_test_" + secrets.token_hex(16)

    async def work(session: AsyncSession) -> None:
        user = User(name=unique("user"), email=f"{unique('u')}@example.com", account_role="MEMBER", status="ACTIVE")
        session.add(user)
        await session.flush()
        session.add(
            ApiKey(
                key_type="USER",
                name="test",
                user_id=user.id,
                token_hash=hash_token(token),
                redacted_key=token[:6] + "...",
                status="ACTIVE",
            )
        )
        role = await session.scalar(select(Role).where(Role.is_predefined.is_(True), Role.level == level))
        assert role is not None
        session.add(RoleBinding(user_id=user.id, role_id=role.id, resource_type="SPACE", resource_id=space_number(space_id)))
        await session.flush()

    in_db(server, work)
    return token


def llm_generation_config(integration_id: str, *, upper: bool = True, **overrides: Any) -> dict[str, Any]:
    """A run configuration as a user would send it: upper-case enums (what the SDK insists on) or lower-case."""
    case = str.upper if upper else str.lower
    config: dict[str, Any] = {
        "experiment_type": case("llm_generation"),
        "ai_integration_id": integration_id,
        "model_name": "gpt-4o",
        "messages": [
            {"role": case("system"), "content": "Answer briefly."},
            {"role": case("user"), "content": "{question}"},
        ],
        "input_variable_format": case("f_string"),
        "invocation_parameters": {"temperature": 0.2, "response_format": {"type": case("text")}},
    }
    config.update(overrides)
    return config


# --- a space with one of everything a task can point at -----------------------------------


def span_evaluator(evaluator_id: str, **fields: Any) -> TaskEvaluatorInput:
    return TaskEvaluatorInput(SpanEvaluatorInput(evaluator_id=evaluator_id, **fields))


@dataclass
class World:
    """A space with one of everything a task can point at."""

    space: dict[str, Any]
    project: dict[str, Any]
    dataset: DatasetRow
    experiment_id: str
    template_eval: EvaluatorRow
    template_eval_2: EvaluatorRow
    code_eval: EvaluatorRow
    integration_id: str


def make_world(server: Server, api: Api) -> World:
    space = api.space()
    data = dataset(server, space["id"])
    return World(
        space=space,
        project=api.project(space["id"]),
        dataset=data,
        experiment_id=experiment(server, space["id"], data.id),
        template_eval=evaluator(server, space["id"], versions=2),
        template_eval_2=evaluator(server, space["id"]),
        code_eval=evaluator(server, space["id"], kind="CODE"),
        integration_id=ai_integration(server),
    )


def project_task_body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("task"),
        "type": "template_evaluation",
        "project_id": world.project["id"],
        "evaluators": [{"evaluator_id": world.template_eval.id}],
    }
    body.update(overrides)
    return body


def assert_problem(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    for fragment in fragments:
        assert fragment.lower() in problem["detail"].lower(), problem["detail"]
    return problem
