"""Pre-generated OTLP/HTTP protobuf payloads of realistic LLM spans, for the ingestion bench.

Each batch is one ``ExportTraceServiceRequest`` of ``spans_per_batch`` spans in traces of
four spans (an AGENT root, a RETRIEVER, an LLM, a TOOL), the way an OpenInference-
instrumented application exports them. Every span carries about 2 KB of attributes:
input/output messages, token counts, model and invocation parameters, documents for the
retriever. Ids come from a seeded generator, so two runs send identical bytes.

Used only by the bench harness (``bench/ingest.py``); it runs in the evalplane venv, and the
payloads are written to files that the sender processes read, so the peer under test never
needs this module.
"""

from __future__ import annotations

import json
import random
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import (
    ResourceSpans,
    ScopeSpans,
    Span,
    Status,
)

PROJECT = "ingest-bench"
_TOPICS = (
    "refund policy",
    "shipping delays",
    "password reset",
    "invoice totals",
    "API rate limits",
    "account deletion",
    "pricing tiers",
    "data export",
    "SSO setup",
    "webhook retries",
)
_WORDS = (
    "the",
    "customer",
    "asked",
    "about",
    "their",
    "order",
    "and",
    "we",
    "should",
    "check",
    "whether",
    "policy",
    "allows",
    "a",
    "refund",
    "within",
    "thirty",
    "days",
    "of",
    "purchase",
    "please",
    "confirm",
    "details",
    "support",
    "ticket",
    "answer",
    "clearly",
    "with",
    "steps",
)


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    return AnyValue(string_value=str(value))


def _kv(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in attributes.items()]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _llm(rng: random.Random, question: str) -> dict[str, Any]:
    answer = _text(rng, 90)
    prompt, completion = rng.randint(200, 1200), rng.randint(40, 400)
    return {
        "openinference.span.kind": "LLM",
        "llm.model_name": rng.choice(("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet")),
        "llm.provider": "openai",
        "llm.system": "openai",
        "llm.invocation_parameters": json.dumps({"temperature": 0.2, "max_tokens": 512}),
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You are a support assistant. Answer from the documents only.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": question,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": answer,
        "llm.token_count.prompt": prompt,
        "llm.token_count.completion": completion,
        "llm.token_count.total": prompt + completion,
        "input.value": json.dumps({"messages": [{"role": "user", "content": question}]}),
        "input.mime_type": "application/json",
        "output.value": answer,
        "output.mime_type": "text/plain",
        "session.id": f"session-{rng.randint(1, 5000)}",
        "user.id": f"user-{rng.randint(1, 500)}",
        "metadata": json.dumps({"tenant": rng.choice(("acme", "globex", "initech")), "release": "2024.6"}),
        "tag.tags": ["support", rng.choice(("web", "mobile", "email"))],
    }


def _retriever(rng: random.Random, question: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"openinference.span.kind": "RETRIEVER", "input.value": question}
    for i in range(3):
        attributes[f"retrieval.documents.{i}.document.id"] = f"doc-{rng.randint(1, 100000)}"
        attributes[f"retrieval.documents.{i}.document.score"] = round(rng.random(), 4)
        attributes[f"retrieval.documents.{i}.document.content"] = _text(rng, 70)
    return attributes


def _tool(rng: random.Random, question: str) -> dict[str, Any]:
    return {
        "openinference.span.kind": "TOOL",
        "tool.name": "lookup_order",
        "tool.description": "Look up an order by its number and return its status and line items.",
        "tool.parameters": json.dumps({"type": "object", "properties": {"order_id": {"type": "string"}}}),
        "input.value": json.dumps({"order_id": f"A{rng.randint(10000, 99999)}"}),
        "output.value": json.dumps(
            {"status": "shipped", "items": [_text(rng, 12) for _ in range(6)], "note": _text(rng, 60)}
        ),
    }


def _agent(rng: random.Random, question: str) -> dict[str, Any]:
    return {
        "openinference.span.kind": "AGENT",
        "input.value": question,
        "output.value": _text(rng, 120),
        "session.id": f"session-{rng.randint(1, 5000)}",
        "metadata": json.dumps({"channel": "chat", "steps": 3, "notes": _text(rng, 60)}),
    }


_SHAPES = (("agent.run", _agent), ("retrieve", _retriever), ("ChatCompletion", _llm), ("lookup_order", _tool))


def build_batches(batches: int, spans_per_batch: int = 1000, seed: int = 7, start_ns: int | None = None) -> list[bytes]:
    """``batches`` serialized requests; all spans lie within the last hour of ``start_ns``."""
    import time

    rng = random.Random(seed)
    now = start_ns or time.time_ns()
    resource = Resource(attributes=_kv({"openinference.project.name": PROJECT, "service.name": "support-bot"}))
    scope = InstrumentationScope(name="openinference.instrumentation.openai", version="0.1.0")
    out = []
    for _ in range(batches):
        spans = []
        while len(spans) < spans_per_batch:
            trace_id = rng.randbytes(16)
            root_id = rng.randbytes(8)
            t0 = now - rng.randint(60, 3600) * 1_000_000_000
            question = f"About {rng.choice(_TOPICS)}: " + _text(rng, 40)
            for i, (name, attributes) in enumerate(_SHAPES):
                if len(spans) == spans_per_batch:
                    break
                start = t0 + i * 5_000_000
                error = rng.random() < 0.05
                spans.append(
                    Span(
                        trace_id=trace_id,
                        span_id=root_id if i == 0 else rng.randbytes(8),
                        parent_span_id=b"" if i == 0 else root_id,
                        name=name,
                        kind=Span.SPAN_KIND_INTERNAL if i != 2 else Span.SPAN_KIND_CLIENT,
                        start_time_unix_nano=start,
                        end_time_unix_nano=start + rng.randint(5, 4000) * 1_000_000,
                        attributes=_kv(attributes(rng, question)),
                        status=Status(
                            code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK,
                            message="upstream timeout" if error else "",
                        ),
                    )
                )
        request = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans)])]
        )
        out.append(request.SerializeToString())
    return out


if __name__ == "__main__":
    payload = build_batches(1)[0]
    print(f"{len(payload):,} bytes for 1,000 spans ({len(payload) / 1000:.0f} bytes/span)")
