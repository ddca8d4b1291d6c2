"""Experiments."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v2", tags=["Experiments"])
