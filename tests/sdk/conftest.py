"""Fixtures of the SDK tests: ``api`` (a strict client, sync and async), ``recorder`` and ``clean_env`` (see wire.py)."""

from .wire import api, clean_env, recorder

__all__ = ["api", "clean_env", "recorder"]
