"""Telling lazy (dask) arrays from in-memory ones, one rule for the whole package."""

from __future__ import annotations

from typing import Any


def is_dask(data: Any) -> bool:
    """True for a dask array (or other dask collection), without importing dask."""
    return type(data).__module__.startswith("dask.") and hasattr(data, "__dask_graph__")
