"""Deterministic sampling: a target is in a sample when the hash of its id falls below the
rate, so a 20% sample is a subset of a 60% sample and a rerun picks the same targets."""

from __future__ import annotations

import hashlib


def sampled(target_key: str, rate: float | None) -> bool:
    if rate is None or rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2s(target_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate
