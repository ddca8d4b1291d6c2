"""Evaluators and their versions through the official arize SDK, with raw HTTP for edge cases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from arize._generated.api_client.models.evaluator_llm_config_request import (
    EvaluatorLlmConfigRequest,
)
from arize._generated.api_client.models.invocation_params_request import (
    InvocationParamsRequest,
)
from arize._generated.api_client.models.provider_params_request import (
    ProviderParamsRequest,
)
from arize.evaluators.types import (
    CustomCodeConfig,
    EvaluatorVersionCode,
    EvaluatorVersionTemplate,
    ManagedCodeConfig,
    TemplateConfigInput,
)

from evalplane.core.ids import Kind, decode_id
from tests.arrange import in_db, member_key
from tests.support import Api, Server, unique

CUSTOM_CODE = '''
import json
from typing import Any

class ShortAnswer(CodeEvaluator):
    """Passes when the output has at most `limit` words."""

    def evaluate(self, *, output: Any = None, **kwargs: Any) -> EvaluationResult:
        words = len(str(output or "").split())
        return EvaluationResult(label="short" if words <= 50 else "long", score=float(words <= 50))
'''

MANAGED_CASES: list[tuple[str, list[str], list[dict[str, Any]]]] = [
    (
        "MATCHES_REGEX",
        ["attributes.output.value"],
        [{"name": "pattern", "type": "REGEX", "default_value": r"\d{3}-\d{4}"}],
    ),
    ("JSON_PARSEABLE", ["attributes.output.value"], []),
    (
        "CONTAINS_ANY_KEYWORD",
        ["attributes.output.value"],
        [{"name": "keywords", "type": "STRING_ARRAY", "default_value": ["expedia", "airbnb"]}],
    ),
    (
        "CONTAINS_ALL_KEYWORDS",
        ["attributes.output.value"],
        [{"name": "keywords", "type": "STRING_ARRAY", "default_value": ["hello", "bye"]}],
    ),
    ("EXACT_MATCH", ["attributes.output.value", "attributes.metadata.expected"], []),
]


def _integration(api: Api, http, space_id: str) -> dict[str, Any]:
    body = {"name": unique("judge"), "provider": "OPEN_AI", "api_key": "sk-x", "scopings": [{"space_id": space_id}]}
    return api.ok(http.post("/v2/ai-integrations", json=body), 201)


def _template_config(integration_id: str, **overrides: Any) -> TemplateConfigInput:
    values: dict[str, Any] = {
        "name": "correctness",
        "template": "Question: {input}\nAnswer: {output}\nIs the answer correct? Reply correct or incorrect.",
        "include_explanations": True,
        "use_function_calling": True,
        "classification_choices": {"correct": 1, "incorrect": 0},
        "llm_config": EvaluatorLlmConfigRequest(
            ai_integration_id=integration_id,
            model_name="gpt-4o-mini",
            invocation_parameters=InvocationParamsRequest(temperature=0, max_tokens=256),
            provider_parameters=ProviderParamsRequest(),
        ),
    }
    values.update(overrides)
    return TemplateConfigInput(**values)


def _template_body(space_id: str, integration_id: str, **config: Any) -> dict[str, Any]:
    template_config = {
        "name": "quality",
        "template": "Rate {output}",
        "include_explanations": False,
        "use_function_calling": True,
        "classification_choices": {"good": 1, "bad": 0},
        "llm_config": {
            "ai_integration_id": integration_id,
            "model_name": "gpt-4o",
            "invocation_parameters": {},
            "provider_parameters": {},
        },
        **config,
    }
    return {
        "space_id": space_id,
        "name": unique("ev"),
        "type": "TEMPLATE",
        "version": {"commit_message": "first", "template_config": template_config},
    }


def _code_body(space_id: str, code_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "space_id": space_id,
        "name": unique("code"),
        "type": "CODE",
        "version": {"commit_message": "first", "code_config": code_config},
    }


def test_sdk_template_evaluator_lifecycle(server: Server, api: Api, http) -> None:
    space = api.space()
    integration = _integration(api, http, space["id"])
    client = server.sdk()
    name = unique("judge")
    created = client.evaluators.create_template_evaluator(
        name=name,
        space=space["name"],
        commit_message="initial",
        template_config=_template_config(integration["id"]),
        description="Grades answers",
    )
    assert created.name == name and created.type == "TEMPLATE" and created.space_id == space["id"]
    assert created.description == "Grades answers"
    first = created.version
    assert isinstance(first, EvaluatorVersionTemplate)
    config = first.template_config
    assert config.classification_choices == {"correct": 1, "incorrect": 0}
    assert config.include_explanations is True and config.use_structured_output is True
    assert config.direction == "MAXIMIZE" and config.data_granularity == "SPAN"
    assert config.llm_config.ai_integration_id == integration["id"] and config.llm_config.model_name == "gpt-4o-mini"
    assert config.llm_config.invocation_parameters.max_tokens == 256

    # Name-based lookups resolve through the list endpoint within the space.
    fetched = client.evaluators.get(evaluator=name, space=space["name"])
    assert fetched.id == created.id and fetched.version.id == first.id

    second = client.evaluators.create_template_version(
        evaluator=name,
        space=space["id"],
        commit_message="stricter",
        template_config=_template_config(integration["id"], classification_choices={"yes": 1, "partly": 0.5, "no": 0}),
    )
    assert second.commit_message == "stricter" and second.commit_hash != first.commit_hash
    assert client.evaluators.get(evaluator=created.id).version.id == second.id
    pinned = client.evaluators.get(evaluator=created.id, version_id=first.id)
    assert pinned.version.id == first.id
    by_id = client.evaluators.get_version(version_id=second.id)
    assert by_id.template_config.classification_choices == {"yes": 1, "partly": 0.5, "no": 0}
    versions = client.evaluators.list_versions(evaluator=created.id)
    assert [v.id for v in versions.evaluator_versions] == [second.id, first.id]

    renamed = client.evaluators.update(evaluator=created.id, name=name + "-v2", description=None)
    assert renamed.name == name + "-v2" and renamed.description is None

    result = client.evaluators.delete_versions(evaluator=created.id, version_ids=[first.id, first.id, "bm9wZQ=="])
    assert result.completed is True and result.deleted_version_ids == [first.id]
    assert result.not_deleted_version_ids == ["bm9wZQ=="]

    client.evaluators.delete(evaluator=name + "-v2", space=space["id"])
    assert http.get(f"/v2/evaluators/{created.id}").status_code == 404
    assert http.get(f"/v2/evaluator-versions/{second.id}").status_code == 404


@pytest.mark.parametrize(("managed", "variables", "params"), MANAGED_CASES, ids=[c[0] for c in MANAGED_CASES])
def test_sdk_managed_code_evaluators(
    server: Server, api: Api, managed: str, variables: list[str], params: list[dict[str, Any]]
) -> None:
    space = api.space()
    client = server.sdk()
    code_config = {"type": "MANAGED", "name": managed.lower(), "managed_evaluator": managed, "variables": variables}
    if params:
        code_config["static_params"] = params
    created = client.evaluators.create_code_evaluator(
        name=unique(managed.lower()), space=space["id"], commit_message="init", code_config=code_config
    )
    assert created.type == "CODE"
    version = created.version
    assert isinstance(version, EvaluatorVersionCode) and isinstance(version.code_config, ManagedCodeConfig)
    assert version.code_config.managed_evaluator == managed
    assert version.code_config.variables == variables
    got = [(p.name, p.type, p.default_value.actual_instance) for p in version.code_config.static_params or []]
    assert got == [(p["name"], p["type"], p["default_value"]) for p in params]
    listed = client.evaluators.list(space=space["id"])
    assert [e.id for e in listed.evaluators] == [created.id]


def test_sdk_custom_code_evaluator_and_new_version(server: Server, api: Api) -> None:
    space = api.space()
    client = server.sdk()
    name = unique("custom")
    created = client.evaluators.create_code_evaluator(
        name=name,
        space=space["name"],
        commit_message="init",
        code_config={
            "type": "CUSTOM",
            "name": "short_answer",
            "code": CUSTOM_CODE,
            "imports": "import json",
            "variables": ["output"],
            "static_params": [{"name": "limit", "type": "STRING", "default_value": "50"}],
        },
    )
    config = created.version.code_config
    assert isinstance(config, CustomCodeConfig) and config.code == CUSTOM_CODE and config.imports == "import json"
    newer = client.evaluators.create_code_version(
        evaluator=name,
        space=space["name"],
        commit_message="managed now",
        code_config={
            "type": "MANAGED",
            "name": "json_ok",
            "managed_evaluator": "JSON_PARSEABLE",
            "variables": ["output"],
        },
    )
    assert isinstance(newer.code_config, ManagedCodeConfig)
    assert client.evaluators.get(evaluator=created.id).version.id == newer.id

    # The stored form is what the engine runs: normalized, with the class found at save time.
    stored = in_db(server, lambda s: _stored_config(s, decode_id(Kind.EVALUATOR_VERSION, created.version.id)))
    assert stored["type"] == "CODE" and stored["code_type"] == "CUSTOM"
    assert stored["class_name"] == "ShortAnswer" and stored["params"] == {"limit": "50"}


async def _stored_config(session, version_id: int) -> dict[str, Any]:
    from evalplane.db.models import EvaluatorVersion

    return (await session.get(EvaluatorVersion, version_id)).config


def test_template_config_is_stored_normalized(server: Server, api: Api, http) -> None:
    space = api.space()
    integration = _integration(api, http, space["id"])
    template = 'Q: {input}\nA: {attributes.output.value}\nAnswer as JSON like {"label": "good"}; {{literal}} {input}'
    body = _template_body(
        space["id"], integration["id"], direction="minimize", data_granularity="trace", template=template
    )
    created = api.ok(http.post("/v2/evaluators", json=body), 201)
    stored = in_db(server, lambda s: _stored_config(s, decode_id(Kind.EVALUATOR_VERSION, created["version"]["id"])))
    assert stored["llm"]["ai_integration_id"] == decode_id(Kind.AI_INTEGRATION, integration["id"])
    assert stored["direction"] == "MINIMIZE" and stored["data_granularity"] == "TRACE"
    assert stored["variables"] == ["input", "attributes.output.value"]
    assert stored["template"] == template


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def evaluate(:\n  pass", "not valid Python"),
        ("class Mine:\n    def evaluate(self):\n        return 1", "subclasses CodeEvaluator"),
        ("class Mine(CodeEvaluator):\n    def score(self):\n        return 1", "no 'evaluate' method"),
    ],
)
def test_custom_code_is_checked_when_saved(api: Api, http, code: str, message: str) -> None:
    space = api.space()
    body = _code_body(space["id"], {"type": "CUSTOM", "name": "c", "code": code, "variables": ["output"]})
    response = http.post("/v2/evaluators", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]
    listed = api.ok(http.get("/v2/evaluators", params={"space_id": space["id"]}))
    assert listed["evaluators"] == []


@pytest.mark.parametrize(
    "code_config",
    [
        {"type": "MANAGED", "name": "r", "managed_evaluator": "MATCHES_REGEX", "variables": ["o"]},
        {
            "type": "MANAGED",
            "name": "r",
            "managed_evaluator": "MATCHES_REGEX",
            "variables": ["o"],
            "static_params": [{"name": "pattern", "type": "REGEX", "default_value": "(unclosed"}],
        },
        {
            "type": "MANAGED",
            "name": "k",
            "managed_evaluator": "CONTAINS_ANY_KEYWORD",
            "variables": ["o"],
            "static_params": [{"name": "keywords", "type": "STRING_ARRAY", "default_value": "not-a-list"}],
        },
        {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["a", "b"]},
        {
            "type": "MANAGED",
            "name": "j",
            "managed_evaluator": "JSON_PARSEABLE",
            "variables": ["a"],
            "static_params": [{"name": "extra", "type": "STRING", "default_value": "x"}],
        },
        {"type": "MANAGED", "name": "e", "managed_evaluator": "EXACT_MATCH", "variables": ["a"]},
        {"type": "MANAGED", "name": "x", "managed_evaluator": "NOT_REAL", "variables": ["a"]},
        {"type": "MANAGED", "name": "bad/name", "managed_evaluator": "JSON_PARSEABLE", "variables": ["a"]},
        {"type": "MANAGED", "name": "m", "managed_evaluator": "JSON_PARSEABLE", "variables": ["a"], "code": "x"},
        {"type": "WHATEVER", "name": "m", "variables": ["a"]},
        {"type": "CUSTOM", "name": "c", "variables": ["a"]},
    ],
)
def test_bad_code_configs_are_400(api: Api, http, code_config: dict[str, Any]) -> None:
    space = api.space()
    response = http.post("/v2/evaluators", json=_code_body(space["id"], code_config))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_bad_template_configs_are_4xx(api: Api, http) -> None:
    space, other = api.space(), api.space()
    integration = _integration(api, http, space["id"])
    elsewhere = _integration(api, http, other["id"])
    cases = [
        (_template_body(space["id"], integration["id"], classification_choices={}), 400),
        (_template_body(space["id"], integration["id"], classification_choices={"a": "high"}), 400),
        (_template_body(space["id"], integration["id"], template="  "), 400),
        (_template_body(space["id"], integration["id"], direction="UPWARD"), 400),
        (_template_body(space["id"], integration["id"], include_explanations="yes"), 400),
        (_template_body(space["id"], "not-an-id"), 404),  # names no integration
        # An integration scoped to another space cannot be used here.
        (_template_body(space["id"], elsewhere["id"]), 404),
        ({**_template_body(space["id"], integration["id"]), "type": "CODE"}, 400),
        ({**_template_body(space["id"], integration["id"]), "type": "REMOTE"}, 422),
        ({**_template_body(space["id"], integration["id"]), "type": "BOGUS"}, 400),
        ({**_template_body(space["id"], integration["id"]), "extra": 1}, 400),
    ]
    for body, status in cases:
        response = http.post("/v2/evaluators", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert api.ok(http.get("/v2/evaluators", params={"space_id": space["id"]}))["evaluators"] == []
    bad_version = http.post("/v2/evaluators/not-an-id/versions", json={"commit_message": "x"})
    assert bad_version.status_code == 400  # the body is incomplete, which is checked first


def test_names_are_unique_per_space(api: Api, http) -> None:
    space, other = api.space(), api.space()
    config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["o"]}
    first = api.ok(http.post("/v2/evaluators", json={**_code_body(space["id"], config), "name": "same"}), 201)
    duplicate = http.post("/v2/evaluators", json={**_code_body(space["id"], config), "name": "same"})
    assert duplicate.status_code == 409
    api.ok(http.post("/v2/evaluators", json={**_code_body(other["id"], config), "name": "same"}), 201)
    second = api.ok(http.post("/v2/evaluators", json={**_code_body(space["id"], config), "name": "other"}), 201)
    rename = http.patch(f"/v2/evaluators/{second['id']}", json={"name": "same"})
    assert rename.status_code == 409
    assert api.ok(http.get(f"/v2/evaluators/{first['id']}"))["name"] == "same"


def test_list_filters_and_paginates(api: Api, http) -> None:
    space, other = api.space(), api.space()
    config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["o"]}
    tag = unique("lst")
    ids = [
        api.ok(http.post("/v2/evaluators", json={**_code_body(space["id"], config), "name": f"{tag}-{i}"}), 201)["id"]
        for i in range(3)
    ]
    api.ok(http.post("/v2/evaluators", json={**_code_body(other["id"], config), "name": f"{tag}-x"}), 201)
    seen, cursor = [], None
    while True:
        params = {"space_id": space["id"], "name": tag.upper(), "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.ok(http.get("/v2/evaluators", params=params))
        seen += [e["id"] for e in page["evaluators"]]
        if not page["pagination"]["has_more"]:
            break
        cursor = page["pagination"]["next_cursor"]
    assert seen == list(reversed(ids))
    tampered = http.get(
        "/v2/evaluators", params={"space_id": other["id"], "name": tag, "limit": 2, "cursor": cursor or "x"}
    )
    assert tampered.status_code == 400
    by_space_name = api.ok(http.get("/v2/evaluators", params={"space_name": other["name"], "name": tag}))
    assert [e["name"] for e in by_space_name["evaluators"]] == [f"{tag}-x"]


def test_deleting_an_evaluator_used_by_a_task_is_409(server: Server, api: Api, http) -> None:
    space = api.space()
    config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["o"]}
    created = api.ok(http.post("/v2/evaluators", json=_code_body(space["id"], config)), 201)
    project = api.project(space["id"])
    evaluator_id = decode_id(Kind.EVALUATOR, created["id"])

    async def attach(session) -> None:
        from evalplane.db.models import Task, TaskEvaluator

        task = Task(
            space_id=decode_id(Kind.SPACE, space["id"]),
            name=unique("task"),
            type="TEMPLATE_EVALUATION",
            project_id=decode_id(Kind.PROJECT, project["id"]),
        )
        session.add(task)
        await session.flush()
        session.add(TaskEvaluator(task_id=task.id, evaluator_id=evaluator_id))

    in_db(server, attach)
    response = http.delete(f"/v2/evaluators/{created['id']}")
    assert response.status_code == 409 and "task" in response.json()["detail"]
    assert http.get(f"/v2/evaluators/{created['id']}").status_code == 200


def test_last_version_cannot_be_deleted(api: Api, http) -> None:
    space = api.space()
    config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["o"]}
    created = api.ok(http.post("/v2/evaluators", json=_code_body(space["id"], config)), 201)
    response = http.request(
        "DELETE", f"/v2/evaluators/{created['id']}/versions", json={"version_ids": [created["version"]["id"]]}
    )
    assert response.status_code == 409
    assert (
        http.request("DELETE", f"/v2/evaluators/{created['id']}/versions", json={"version_ids": []}).status_code == 400
    )


def test_read_only_user_reads_but_cannot_write(server: Server, api: Api, http) -> None:
    space = api.space()
    config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["o"]}
    created = api.ok(http.post("/v2/evaluators", json=_code_body(space["id"], config)), 201)
    reader = member_key(server, {space["id"]: "READ_ONLY"})
    sdk = server.sdk(reader)
    assert sdk.evaluators.get(evaluator=created["id"]).id == created["id"]
    assert [e.id for e in sdk.evaluators.list(space=space["id"]).evaluators] == [created["id"]]
    with server.http(reader) as as_reader:
        writes = [
            as_reader.post("/v2/evaluators", json=_code_body(space["id"], config)),
            as_reader.patch(f"/v2/evaluators/{created['id']}", json={"name": "x"}),
            as_reader.delete(f"/v2/evaluators/{created['id']}"),
            as_reader.post(
                f"/v2/evaluators/{created['id']}/versions", json={"commit_message": "m", "code_config": config}
            ),
            as_reader.request(
                "DELETE", f"/v2/evaluators/{created['id']}/versions", json={"version_ids": [created["version"]["id"]]}
            ),
        ]
    for response in writes:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"


def test_other_spaces_evaluators_are_invisible(server: Server, api: Api, http) -> None:
    mine, theirs = api.space(), api.space()
    config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["o"]}
    hidden = api.ok(http.post("/v2/evaluators", json=_code_body(theirs["id"], config)), 201)
    outsider = member_key(server, {mine["id"]: "MEMBER"})
    with server.http(outsider) as as_outsider:
        for response in (
            as_outsider.get(f"/v2/evaluators/{hidden['id']}"),
            as_outsider.get(f"/v2/evaluator-versions/{hidden['version']['id']}"),
            as_outsider.get(f"/v2/evaluators/{hidden['id']}/versions"),
            as_outsider.patch(f"/v2/evaluators/{hidden['id']}", json={"name": "x"}),
            as_outsider.delete(f"/v2/evaluators/{hidden['id']}"),
            as_outsider.get("/v2/evaluators", params={"space_id": theirs["id"]}),
            as_outsider.post("/v2/evaluators", json=_code_body(theirs["id"], config)),
        ):
            assert response.status_code == 404, response.text
        listed = as_outsider.get("/v2/evaluators", params={"limit": 100}).json()["evaluators"]
        assert hidden["id"] not in [e["id"] for e in listed]


def test_version_of_another_evaluator_is_404(api: Api, http) -> None:
    space = api.space()
    config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["o"]}
    a = api.ok(http.post("/v2/evaluators", json=_code_body(space["id"], config)), 201)
    b = api.ok(http.post("/v2/evaluators", json=_code_body(space["id"], config)), 201)
    response = http.get(f"/v2/evaluators/{a['id']}", params={"version_id": b["version"]["id"]})
    assert response.status_code == 404
    assert http.get(f"/v2/evaluators/{a['id']}", params={"version_id": "garbage"}).status_code == 404


def test_template_catalogue(api: Api, http) -> None:
    templates = api.ok(http.get("/v2/evaluator-templates"))["evaluator_templates"]
    names = {t["column_name"] for t in templates}
    assert {"hallucination", "correctness", "toxicity", "document_relevance"} <= names
    for template in templates:
        assert set(template["rails"]) == set(template["classification_choices"])


def test_unstorable_values_are_400_not_500(api: Api, http) -> None:
    space = api.space()
    integration = _integration(api, http, space["id"])
    nul_name = {**_template_body(space["id"], integration["id"]), "name": "a\u0000b"}
    nul_template = _template_body(space["id"], integration["id"], template="rate {x}\u0000")
    huge_score = _template_body(space["id"], integration["id"], classification_choices={"a": 10**30})
    huge_tool = _template_body(space["id"], integration["id"])
    huge_tool["version"]["template_config"]["llm_config"]["invocation_parameters"] = {
        "tool_config": {"tools": [{"n": 10**30}]}
    }
    for body in (nul_name, nul_template, huge_score, huge_tool):
        response = http.post("/v2/evaluators", json=body)
        assert response.status_code == 400, response.text
    nan = json.dumps(_template_body(space["id"], integration["id"])).replace(
        '"invocation_parameters": {}', '"invocation_parameters": {"temperature": NaN}'
    )
    response = http.post("/v2/evaluators", content=nan, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    # A NUL in a name filter is valid text that matches nothing, as on every list.
    assert api.ok(http.get("/v2/evaluators", params={"name": "a\u0000"}))["evaluators"] == []
    assert api.ok(http.get("/v2/evaluators", params={"space_id": space["id"]}))["evaluators"] == []


@pytest.mark.parametrize(
    ("query_filter", "says"),
    [
        ("attributes.x = ", "'code_config.query_filter' is not a valid filter: expected a value"),
        ("span_kind = 'LLM' AND (latency_ms > 5", "expected ')'"),
        ("output LIKE 5", "expected a quoted pattern"),
        ("NOT " * 60 + "x = 1", "nests too deeply"),
    ],
)
def test_an_evaluator_filter_is_parsed_when_saved(api: Api, http, query_filter: str, says: str) -> None:
    space = api.space()
    config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["a"]}
    response = http.post("/v2/evaluators", json=_code_body(space["id"], {**config, "query_filter": query_filter}))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"] and "position" in response.json()["detail"]
    listed = http.get("/v2/evaluators", params={"space_id": space["id"]}).json()["evaluators"]
    assert listed == []  # nothing was saved

    created = api.ok(http.post("/v2/evaluators", json=_code_body(space["id"], config)), 201)
    newer = http.post(
        f"/v2/evaluators/{created['id']}/versions",
        json={"commit_message": "m", "code_config": {**config, "query_filter": query_filter}},
    )
    assert newer.status_code == 400, newer.text
    assert says in newer.json()["detail"]
    versions = http.get(f"/v2/evaluators/{created['id']}/versions").json()["evaluator_versions"]
    assert len(versions) == 1


def test_an_evaluator_filter_over_spans_or_records_is_kept(api: Api, http) -> None:
    space = api.space()
    for text in ("span_kind = 'LLM' AND attributes.llm.model_name = 'gpt-4o'", "output = 'yes' AND eval.q.score > 0.5"):
        config = {"type": "MANAGED", "name": "j", "managed_evaluator": "JSON_PARSEABLE", "variables": ["a"]}
        created = api.ok(
            http.post("/v2/evaluators", json=_code_body(space["id"], {**config, "query_filter": text})), 201
        )
        assert created["version"]["code_config"]["query_filter"] == text
