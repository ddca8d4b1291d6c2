"""Arranging test data: one way to make each kind of row.

Everything the HTTP API can make is made through it (spaces, projects, evaluators, datasets,
experiments, AI integrations, users and their bindings), so tests arrange what a user could.
Rows go straight into the server's database only where the API cannot put them: an API key
for a user other than the caller, a run moved to another status (the engine's job), tasks
with server-owned fields (``last_run_at``, creator, exact insertion order) and raw reads.
Everything speaks public ids on the way in and out, like a client would. What the engine runs
(an integration that reaches the local judge, evaluators and tasks for it) is in tests/support_engine.py.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.engine import Database
from evalplane.db.models import Organization, Space, Task, TaskEvaluator, TaskRun
from evalplane.domains.access import service as access
from evalplane.settings import Settings
from tests.support import Api, Server, unique

T = TypeVar("T")

SEED_SPEC_CANDIDATES = (
    os.environ.get("EVALPLANE_SEED_SPEC", ""),
    str(Path(__file__).resolve().parents[1] / "spec" / "seed_list_tasks.openapi.yaml"),
)
TASK_TYPES = ("TEMPLATE_EVALUATION", "CODE_EVALUATION", "RUN_EXPERIMENT")


def seed_spec() -> Path:
    """The seed OpenAPI document for GET /v2/tasks (EVALPLANE_SEED_SPEC first, then the vendored copy)."""
    for candidate in SEED_SPEC_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError(f"seed spec not found in any of {SEED_SPEC_CANDIDATES}")


# --- the database, for what the API cannot do ------------------------------------------------

# One event loop for all arrangement work, and one connection pool per database, kept for the run.
_RUNNER = asyncio.Runner()
_DATABASES: dict[str, Database] = {}


def in_db(server: Server, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on the server's database."""
    db = _DATABASES.get(server.database_url)
    if db is None:
        url = Settings(database_url=server.database_url, home=server.home).resolved_database_url()
        db = _DATABASES[server.database_url] = _RUNNER.run(_open(url))

    async def go() -> T:
        async with db.session() as session:
            return await work(session)

    return _RUNNER.run(go())


async def _open(url: str) -> Database:
    return Database(url, pool_size=1)


def raw_row(server: Server, table: str, row_id: int) -> dict[str, Any]:
    """One row as stored, bypassing the ORM's types."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        result = await session.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id})
        return dict(result.mappings().one())

    return in_db(server, work)


# --- people: users and bindings through the API, keys for others directly ---------------------


def user(api: Api, role: str = "MEMBER") -> dict[str, Any]:
    """A new user with an account role (the API invites nobody)."""
    name = unique("user")
    body = {
        "name": name,
        "email": f"{name}@example.com",
        "role": {"type": "PREDEFINED", "name": role},
        "invite_mode": "NONE",
    }
    return api.ok(api.client.post("/v2/users", json=body), 201)


def bind(api: Api, user_id: str, space_id: str, role: str) -> dict[str, Any]:
    """Give a user a predefined role (READ_ONLY, MEMBER, ADMIN) on a space."""
    body = {"user_id": user_id, "role": {"type": "PREDEFINED", "name": role}}
    return api.ok(api.client.post(f"/v2/spaces/{space_id}/users", json=body), 200)


def key_for(server: Server, user_id: str, *, expires_at: datetime | None = None) -> str:
    """An API key for a user, issued the way the operator CLI does (the API issues keys only
    to their caller)."""
    number = decode_id(Kind.USER, user_id)

    async def issue(session: AsyncSession) -> str:
        _, token = await access.issue_key(
            session, user_id=number, name=unique("key"), created_by_user_id=number, expires_at=expires_at
        )
        return token

    return in_db(server, issue)


def member(server: Server, api: Api, space_id: str, role: str = "MEMBER") -> tuple[dict[str, Any], str]:
    """A new non-admin user bound to one space with ``role``, and a key for them."""
    person = user(api)
    bind(api, person["id"], space_id, role)
    return person, key_for(server, person["id"])


def member_key(server: Server, levels: dict[str, str]) -> str:
    """The key of a new non-admin user bound to each space in ``{space_id: role}``."""
    with server.http() as client:
        api = Api(client)
        person = user(api)
        for space_id, role in levels.items():
            bind(api, person["id"], space_id, role)
    return key_for(server, person["id"])


def user_key(server: Server, space_id: str, level: str) -> str:
    """The key of a new non-admin user bound to one space at ``level``."""
    return member_key(server, {space_id: level})


# --- what tasks point at, through the API -------------------------------------------------------


def ai_integration(api: Api, *, space_ids: list[str] | None = None, name: str | None = None) -> str:
    """An OpenAI integration; account-wide unless limited to ``space_ids``."""
    body: dict[str, Any] = {
        "name": name or unique("llm"),
        "provider": "OPEN_AI",
        "api_key": "sk-test",
        "model_names": ["gpt-4o"],
    }
    if space_ids:
        body["scopings"] = [{"space_id": s} for s in space_ids]
    return api.ok(api.client.post("/v2/ai-integrations", json=body), 201)["id"]


def template_config(integration_id: str, n: int = 0) -> dict[str, Any]:
    return {
        "name": "quality",
        "template": f"Is {{output}} a good answer to {{input}}? Reply good or bad. ({n})",
        "include_explanations": False,
        "use_function_calling": True,
        "classification_choices": {"good": 1, "bad": 0},
        "llm_config": {"ai_integration_id": integration_id, "model_name": "gpt-4o"},
    }


def code_config(n: int = 0) -> dict[str, Any]:
    return {"type": "MANAGED", "name": f"json-{n}", "managed_evaluator": "JSON_PARSEABLE", "variables": ["output"]}


@dataclass
class EvaluatorRow:
    id: str
    name: str
    version_ids: list[str] = field(default_factory=list)


def evaluator(
    api: Api,
    space_id: str,
    *,
    kind: str = "TEMPLATE",
    name: str | None = None,
    versions: int = 1,
    integration_id: str | None = None,
    granularity: str | None = None,
) -> EvaluatorRow:
    """A TEMPLATE (LLM judge) or CODE (managed JSON check) evaluator with ``versions`` versions, oldest first;
    ``granularity`` (SPAN, TRACE, SESSION) sets every version's data_granularity."""
    name = name or unique("eval")
    if kind == "TEMPLATE":
        integration_id = integration_id or ai_integration(api, space_ids=[space_id])

    def version(n: int) -> dict[str, Any]:
        config = (
            {"template_config": template_config(integration_id, n)}
            if kind == "TEMPLATE"
            else {"code_config": code_config(n)}
        )
        if granularity is not None:
            next(iter(config.values()))["data_granularity"] = granularity
        return {"commit_message": f"v{n}", **config}

    body = {"space_id": space_id, "name": name, "type": kind, "version": version(0)}
    created = api.ok(api.client.post("/v2/evaluators", json=body), 201)
    version_ids = [created["version"]["id"]]
    for n in range(1, versions):
        added = api.ok(api.client.post(f"/v2/evaluators/{created['id']}/versions", json=version(n)), 201)
        version_ids.append(added["id"])
    return EvaluatorRow(created["id"], name, version_ids)


@dataclass
class DatasetRow:
    id: str
    name: str
    version_id: str
    example_ids: list[str]


def dataset(api: Api, space_id: str, *, name: str | None = None, examples: int = 2) -> DatasetRow:
    """A dataset whose first version holds ``examples`` questions."""
    name = name or unique("ds")
    body = {"space_id": space_id, "name": name, "examples": [{"question": f"q{n}"} for n in range(examples)]}
    created = api.ok(api.client.post("/v2/datasets", json=body), 201)
    version_id = created["versions"][0]["id"]
    listed = api.ok(api.client.get(f"/v2/datasets/{created['id']}/examples", params={"limit": max(examples, 1)}))
    return DatasetRow(created["id"], name, version_id, [e["id"] for e in listed["examples"]])


def experiment(api: Api, data: DatasetRow, *, name: str | None = None) -> str:
    """An experiment on a dataset with one run on its first example."""
    body = {
        "name": name or unique("exp"),
        "dataset_id": data.id,
        "experiment_runs": [{"example_id": data.example_ids[0], "output": "o"}],
    }
    return api.ok(api.client.post("/v2/experiments", json=body), 201)["id"]


# --- runs: the engine's part ------------------------------------------------------------------


def set_run_status(server: Server, run_id: str, status: str) -> None:
    """Stand in for the engine by moving a run directly."""

    async def work(session: AsyncSession) -> None:
        run = await session.get(TaskRun, decode_id(Kind.TASK_RUN, run_id))
        assert run is not None
        run.status = status

    in_db(server, work)


# --- tasks with server-owned fields, inserted directly -------------------------------------------


def llm_generation_config(integration_id: str, *, upper: bool = True, **overrides: Any) -> dict[str, Any]:
    """A run configuration as a user sends it: upper-case enums (what the SDK insists on) or lower-case."""
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


def stored_llm_generation_config(integration_id: str) -> dict[str, Any]:
    """An LLM generation run configuration as the server stores it: ids as numbers, enums upper case."""
    return {
        "experiment_type": "LLM_GENERATION",
        "ai_integration_id": decode_id(Kind.AI_INTEGRATION, integration_id),
        "model_name": "gpt-4o-mini",
        "messages": [
            {"role": "SYSTEM", "content": "Answer briefly."},
            {"role": "USER", "content": "{question}"},
        ],
        "input_variable_format": "F_STRING",
        "invocation_parameters": {"temperature": 0.0, "max_tokens": 64},
        "provider_parameters": {},
    }


def stored_template_evaluation_config(integration_id: str) -> dict[str, Any]:
    """A template evaluation run configuration as the server stores it."""
    return {
        "experiment_type": "TEMPLATE_EVALUATION",
        "ai_integration_id": decode_id(Kind.AI_INTEGRATION, integration_id),
        "model_name": "gpt-4o",
        "template": "Is {{output}} a correct answer to {{input}}? Reply correct or incorrect.",
        "provide_explanation": True,
        "classification_choices": {"correct": 1, "incorrect": 0},
        "column_mapping": {"input": "question", "output": "answer"},
        "evaluator_version_id": None,
    }


@dataclass
class Attached:
    evaluator_id: str
    query_filter: str | None = None
    column_mappings: dict[str, str] | None = None


@dataclass
class TaskSpec:
    """A task to insert, in public ids; ``run_configuration`` in its stored form."""

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
            space_id=decode_id(Kind.SPACE, self.space_id),
            name=self.name,
            type=self.type,
            project_id=None if self.project_id is None else decode_id(Kind.PROJECT, self.project_id),
            dataset_id=None if self.dataset_id is None else decode_id(Kind.DATASET, self.dataset_id),
            sampling_rate=self.sampling_rate,
            is_continuous=self.is_continuous,
            query_filter=self.query_filter,
            run_configuration=self.run_configuration,
            experiment_ids=[decode_id(Kind.EXPERIMENT, e) for e in self.experiment_ids],
            last_run_at=self.last_run_at,
            created_by_user_id=self.created_by_user_id,
        )


def insert_tasks(server: Server, specs: Iterable[TaskSpec]) -> list[str]:
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
                        evaluator_id=decode_id(Kind.EVALUATOR, attached.evaluator_id),
                        query_filter=attached.query_filter,
                        column_mappings=attached.column_mappings,
                    )
                )
            ids.append(task.id)
        await session.flush()
        return ids

    return [encode_id(Kind.TASK, n) for n in in_db(server, work)]


def insert_task(server: Server, spec: TaskSpec) -> str:
    return insert_tasks(server, [spec])[0]


def delete_tasks(server: Server, task_ids: Iterable[str]) -> None:
    numbers = [decode_id(Kind.TASK, t) for t in task_ids]

    async def work(session: AsyncSession) -> None:
        await session.execute(delete(Task).where(Task.id.in_(numbers)))

    in_db(server, work)


def count_tasks(server: Server) -> int:
    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(Task)) or 0)

    return in_db(server, work)


def task_snapshot(server: Server) -> list[tuple[Any, ...]]:
    """Every task's mutable columns, to prove a rejected request changed nothing."""

    async def work(session: AsyncSession) -> list[tuple[Any, ...]]:
        rows = await session.execute(
            select(Task.id, Task.name, Task.updated_at, Task.last_run_at, Task.space_id).order_by(Task.id)
        )
        return [tuple(r) for r in rows.all()]

    return in_db(server, work)


# --- whole scenes ----------------------------------------------------------------------------------


@dataclass
class Populated:
    """A space holding tasks of every type, and what they point to."""

    space: dict[str, Any]
    project_ids: list[str]
    dataset_ids: list[str]
    evaluator_ids: list[str]
    experiment_ids: list[str]
    task_ids: dict[str, str]  # task name -> id


def populate_space(server: Server, api: Api, space: dict[str, Any] | None = None) -> Populated:
    """A space with one task of each shape the API has: continuous and backfill template
    evaluations on a project, a code evaluation on a dataset with experiments, and
    run_experiment tasks with each run configuration. Tasks are inserted directly because
    they carry ``last_run_at`` and a missing creator, which only the server sets."""
    space = space or api.space()
    sid = space["id"]
    project = api.project(sid)["id"]
    data = dataset(api, sid)
    llm = ai_integration(api)
    judge = evaluator(api, sid, name="Hallucination judge", integration_id=llm).id
    code = evaluator(api, sid, kind="CODE", name="Is JSON").id
    experiments = [experiment(api, data), experiment(api, data)]
    ran = utcnow() - timedelta(hours=2)
    specs = [
        TaskSpec(
            sid,
            "Production hallucination check",
            "TEMPLATE_EVALUATION",
            project_id=project,
            evaluators=[
                Attached(
                    judge, "span_kind = 'LLM'", {"input": "attributes.input.value", "output": "attributes.output.value"}
                )
            ],
            sampling_rate=0.25,
            is_continuous=True,
            query_filter="status_code = 'OK'",
            last_run_at=ran,
        ),
        TaskSpec(
            sid,
            "Backfill judge",
            "TEMPLATE_EVALUATION",
            project_id=project,
            evaluators=[Attached(judge)],
            sampling_rate=1.0,
        ),
        TaskSpec(
            sid,
            "JSON output check",
            "CODE_EVALUATION",
            dataset_id=data.id,
            evaluators=[Attached(code, None, {"output": "output"}), Attached(judge, None, {"input": "input"})],
            experiment_ids=experiments,
            last_run_at=ran,
            created_by_user_id=None,
        ),
        TaskSpec(
            sid,
            "Generate answers",
            "RUN_EXPERIMENT",
            dataset_id=data.id,
            run_configuration=stored_llm_generation_config(llm),
            last_run_at=ran,
        ),
        TaskSpec(
            sid,
            "Judge dataset",
            "RUN_EXPERIMENT",
            dataset_id=data.id,
            run_configuration=stored_template_evaluation_config(llm),
        ),
    ]
    ids = insert_tasks(server, specs)
    return Populated(
        space=space,
        project_ids=[project],
        dataset_ids=[data.id],
        evaluator_ids=[judge, code],
        experiment_ids=experiments,
        task_ids={s.name: i for s, i in zip(specs, ids, strict=True)},
    )


# --- a space with one of everything a task can point at, for the task API tests ------------------


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


def make_world(api: Api) -> World:
    space = api.space()
    data = dataset(api, space["id"])
    integration_id = ai_integration(api)
    return World(
        space=space,
        project=api.project(space["id"]),
        dataset=data,
        experiment_id=experiment(api, data),
        template_eval=evaluator(api, space["id"], versions=2, integration_id=integration_id),
        template_eval_2=evaluator(api, space["id"], integration_id=integration_id),
        code_eval=evaluator(api, space["id"], kind="CODE"),
        integration_id=integration_id,
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


def span_evaluator(evaluator_id: str, **fields: Any) -> Any:
    from arize._generated.api_client.models import SpanEvaluatorInput, TaskEvaluatorInput

    return TaskEvaluatorInput(SpanEvaluatorInput(evaluator_id=evaluator_id, **fields))


# --- assertions shared by every API test ------------------------------------------------------------


def assert_problem(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    """The response is a problem+json with ``status`` whose detail mentions every fragment."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    for fragment in fragments:
        assert fragment.lower() in problem["detail"].lower(), problem["detail"]
    return problem


async def a_space(db: Database) -> int:
    """An organization and a space straight in a database without a server; the space's id."""
    async with db.session() as session:
        org = Organization(name="o")
        session.add(org)
        await session.flush()
        space = Space(organization_id=org.id, name="s")
        session.add(space)
        await session.flush()
        return space.id
