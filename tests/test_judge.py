"""LLM judges through the real openai and anthropic SDKs against a local provider."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from evalplane.core.egress import EgressPolicy
from evalplane.engine.code.outcome import Failure, Outcome
from evalplane.engine.judge import JudgeSpec, judge, parse_label, render, template_variables
from evalplane.engine.providers import FatalProviderError, ProviderConfig, TransientProviderError, build_provider
from evalplane.engine.providers.anthropic_provider import parse_message
from evalplane.engine.providers.base import ChatRequest, ToolSpec
from evalplane.engine.providers.calls import Gate, RetryPolicy
from evalplane.engine.providers.openai_compat import parse_completion
from tests.support import LOOPBACK_EGRESS, LlmServer

LOCAL = EgressPolicy.parse(LOOPBACK_EGRESS)

CHOICES = {"factual": 1.0, "hallucinated": 0.0}
TEMPLATE = "Question: {input}\nAnswer: {output}\nIs the answer factual or hallucinated?"


def provider(llm: LlmServer, kind: str = "OPEN_AI", **overrides):
    base = llm.openai_base_url if kind != "ANTHROPIC" else llm.base_url
    settings = {
        "provider": kind,
        "api_key": "sk-local",
        "base_url": base,
        "timeout_seconds": 5.0,
        "egress": LOCAL,
        **overrides,
    }
    return build_provider(ProviderConfig(**settings))


def spec(**overrides) -> JudgeSpec:
    return JudgeSpec(**{"template": TEMPLATE, "model": "judge-1", "choices": CHOICES, "explain": True, **overrides})


def test_render_fills_declared_variables_and_leaves_other_braces() -> None:
    text = render('Q: {input} {{output}} keep {"json": 1} and {unknown}', {"input": "hi", "output": {"a": 1}})
    assert text == 'Q: hi {"a": 1} keep {"json": 1} and {unknown}'
    assert render("{{ input }} and {input}", {"input": "x"}, "MUSTACHE") == "x and {input}"
    assert template_variables("{input} then {{output}} {input}") == ["output", "input"]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("EXPLANATION: fine\nLABEL: Factual", "factual"),
        ("**Label:** hallucinated.", "hallucinated"),
        ("'factual'", "factual"),
        ("It is not factual; it is hallucinated", "hallucinated"),
        ("no idea", None),
    ],
)
def test_parse_label_from_text(text: str, label: str | None) -> None:
    assert parse_label(text, list(CHOICES)) == label


@pytest.mark.parametrize("kind", ["OPEN_AI", "ANTHROPIC"])
async def test_judge_labels_scores_and_explains_via_tool_calling(llm: LlmServer, kind: str) -> None:
    result = await judge(provider(llm, kind), Gate(4), spec(), {"input": "2+2?", "output": "4 [[label:factual]]"})
    assert result.result == Outcome(label="factual", score=1.0, explanation="The response was judged factual.")
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


@pytest.mark.parametrize("kind", ["OPEN_AI", "ANTHROPIC"])
async def test_judge_falls_back_to_text_when_function_calling_is_off(llm: LlmServer, kind: str) -> None:
    judge_provider = provider(llm, kind, function_calling=False)
    result = await judge(
        judge_provider, Gate(4), spec(explain=False), {"input": "q", "output": "[[label:hallucinated]]"}
    )
    assert result.result == Outcome(label="hallucinated", score=0.0)


@pytest.mark.slow
async def test_rate_limits_are_retried_after_the_providers_hint(llm: LlmServer) -> None:
    started = time.monotonic()
    result = await judge(provider(llm), Gate(4), spec(), {"input": "q", "output": f"[[fail:429:2]] {time.time()}"})
    assert result.result.label in CHOICES
    assert result.transient_failures == 2
    assert time.monotonic() - started >= 1.9  # Retry-After: 1 honoured twice


async def test_server_errors_back_off_and_recover(llm: LlmServer) -> None:
    policy = RetryPolicy(base_delay=0.05)
    result = await judge(
        provider(llm), Gate(4), spec(), {"input": "q", "output": f"[[fail:500:3]] {time.time()}"}, policy
    )
    assert isinstance(result.result, Outcome) and result.transient_failures == 3


async def test_timeouts_are_transient(llm: LlmServer) -> None:
    quick = provider(llm, timeout_seconds=0.5)
    policy = RetryPolicy(base_delay=0.05)
    result = await judge(quick, Gate(4), spec(), {"input": "q", "output": f"[[hang:1]] {time.time()}"}, policy)
    assert isinstance(result.result, Outcome) and result.transient_failures == 1


async def test_giving_up_raises_the_transient_error(llm: LlmServer) -> None:
    policy = RetryPolicy(base_delay=0.05, give_up_after=0.5)
    with pytest.raises(TransientProviderError):
        await judge(provider(llm), Gate(4), spec(), {"input": "q", "output": f"[[fail:503:50]] {time.time()}"}, policy)


@pytest.mark.parametrize(
    ("overrides", "model", "message"),
    [
        ({"api_key": "bad-key"}, "judge-1", r"credentials were rejected \(401\)"),
        ({}, "unknown-model", "does not know this model"),
    ],
)
async def test_auth_and_model_errors_are_fatal_at_once(llm: LlmServer, overrides, model: str, message: str) -> None:
    before = llm.stats().get("requests", 0)
    with pytest.raises(FatalProviderError, match=message):
        await judge(provider(llm, **overrides), Gate(4), spec(model=model), {"input": "q", "output": "a"})
    assert llm.stats().get("requests", 0) == before + 1  # no retry storm


async def test_concurrency_per_integration_is_bounded(llm: LlmServer) -> None:
    llm.control(latency_ms=200)
    try:
        gate = Gate(2)
        judge_provider = provider(llm)
        started = time.monotonic()
        results = await asyncio.gather(
            *(judge(judge_provider, gate, spec(), {"input": str(i), "output": "a"}) for i in range(6))
        )
        elapsed = time.monotonic() - started
    finally:
        llm.control(latency_ms=0)
    assert all(isinstance(r.result, Outcome) for r in results)
    assert elapsed >= 0.55  # 6 calls, 2 at a time, 200 ms each


async def test_answer_outside_the_choices_is_a_clear_failure(llm: LlmServer) -> None:
    result = await judge(provider(llm), Gate(4), spec(), {"input": "q", "output": "[[label:maybe]]"})
    assert isinstance(result.result, Failure) and "matched none of the choices" in result.result.reason


def test_unsupported_provider_is_fatal() -> None:
    with pytest.raises(FatalProviderError, match="not supported"):
        build_provider(ProviderConfig(provider="AWS_BEDROCK"))


# Answers real OpenAI-compatible servers give besides the textbook one: the judge must read
# them, or turn them into a transient error the engine retries, never crash on them.
_TOOL = ToolSpec(name="record_label", description="", parameters={"type": "object"})


@pytest.mark.parametrize(
    ("body", "text", "arguments", "tokens"),
    [
        (  # tool call with arguments, usage present
            {
                "choices": [
                    {
                        "message": {
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": "c1",
                                    "type": "function",
                                    "function": {"name": "record_label", "arguments": '{"label": "x"}'},
                                }
                            ],
                        }
                    }
                ],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3},
            },
            None,
            {"label": "x"},
            (7, 3),
        ),
        (  # usage null (some local servers), tool arguments that are not JSON: text fallback applies
            {
                "choices": [
                    {
                        "message": {
                            "content": "label: x",
                            "tool_calls": [
                                {
                                    "id": "c1",
                                    "type": "function",
                                    "function": {"name": "record_label", "arguments": "{label"},
                                }
                            ],
                        }
                    }
                ],
                "usage": None,
            },
            "label: x",
            None,
            (0, 0),
        ),
        (  # a different tool than the judge's: recorded, not taken as the label
            {
                "choices": [
                    {
                        "message": {
                            "content": "ok",
                            "tool_calls": [
                                {"id": "c1", "type": "function", "function": {"name": "other", "arguments": "{}"}}
                            ],
                        }
                    }
                ]
            },
            "ok",
            None,
            (0, 0),
        ),
    ],
)
def test_openai_compatible_answers_are_read(body, text, arguments, tokens) -> None:
    result = parse_completion(orjson.dumps(body), ChatRequest(model="m", messages=[], tool=_TOOL))
    assert (result.text, result.tool_arguments, (result.usage.prompt_tokens, result.usage.completion_tokens)) == (
        text,
        arguments,
        tokens,
    )
    assert [c["function"]["name"] for c in result.tool_calls] == [
        c["function"]["name"] for c in body["choices"][0]["message"]["tool_calls"]
    ]


@pytest.mark.parametrize(
    "raw", [b"<html>bad gateway</html>", b'{"choices": []}', b'{"choices": [{"index": 0}]}', b"[]"]
)
def test_unreadable_openai_answers_are_transient(raw: bytes) -> None:
    with pytest.raises(TransientProviderError):
        parse_completion(raw, ChatRequest(model="m", messages=[], tool=_TOOL))


def test_anthropic_answers_are_read() -> None:
    body = {
        "content": [
            {"type": "text", "text": "thinking "},
            {"type": "tool_use", "id": "t1", "name": "record_label", "input": {"label": "x"}},
        ],
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    result = parse_message(orjson.dumps(body), ChatRequest(model="m", messages=[], tool=_TOOL))
    assert (result.text, result.tool_arguments, result.usage.total_tokens) == ("thinking ", {"label": "x"}, 7)
    assert result.tool_calls[0]["function"] == {"name": "record_label", "arguments": '{"label": "x"}'}
    with pytest.raises(TransientProviderError):
        parse_message(b'{"type": "error"}', ChatRequest(model="m", messages=[], tool=_TOOL))
