"""Reading the sandbox child's reply lines. The child runs hostile code, so every line is
checked: anything malformed fails that one item with a short reason."""

from __future__ import annotations

import json
from typing import Any

from evalplane.engine.code.outcome import BadResult, Failure, Outcome, normalize

# Reasons the child writes are user text: keep them to a readable length.
MAX_REASON_CHARS = 2000
# Explanations are kept whole up to here (a reply line itself is capped in sandbox.py).
MAX_EXPLANATION_CHARS = 256 * 1024


def setup_error(line: bytes) -> str | None:
    """None when the child is ready for items, else why it is not."""
    reply = _decode(line)
    if isinstance(reply, Failure):
        return reply.reason
    if reply.get("ready") is True and "error" not in reply:
        return None
    if isinstance(reply.get("error"), str):
        return _short(reply["error"])
    return "the evaluator process sent a malformed reply"


def item_outcome(reply: bytes | Failure, n: int) -> tuple[Outcome | Failure, bool]:
    """The outcome of item ``n``, and whether the child may take the next item."""
    if isinstance(reply, Failure):
        return reply, False
    message = _decode(reply)
    if isinstance(message, Failure):
        return message, False
    if message.pop("n", None) != n:
        return Failure("the evaluator process sent a malformed reply"), False
    if set(message) <= {"error", "fatal"} and isinstance(message.get("error"), str):
        return Failure(_short(message["error"])), message.get("fatal") is not True
    if set(message) != {"result"} or not isinstance(message["result"], dict):
        return Failure("the evaluator process sent a malformed reply"), False
    try:
        return _outcome(message["result"]), True
    except (BadResult, KeyError, TypeError, ValueError) as exc:
        return Failure(_short(f"the evaluator returned an unusable result: {exc}")), True


def _decode(line: bytes) -> dict[str, Any] | Failure:
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Failure("the evaluator process sent a reply that is not JSON")
    if not isinstance(message, dict):
        return Failure("the evaluator process sent a malformed reply")
    return message


def _outcome(result: dict[str, Any]) -> Outcome:
    outcome = _normalized(result)
    if outcome.explanation and len(outcome.explanation) > MAX_EXPLANATION_CHARS:
        cut = outcome.explanation[:MAX_EXPLANATION_CHARS] + " [truncated]"
        outcome = Outcome(outcome.label, outcome.score, cut, outcome.metadata)
    return outcome


def _normalized(result: dict[str, Any]) -> Outcome:
    kind = result["kind"]
    if kind == "mapping":
        return normalize({k: result.get(k) for k in ("score", "label", "explanation", "metadata")})
    if kind == "tuple" and isinstance(result["value"], list):
        return normalize(tuple(result["value"]))
    if kind == "plain":
        return normalize(result["value"])
    raise BadResult(f"unknown result kind {kind!r}")


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "…"
