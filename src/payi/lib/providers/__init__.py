"""Provider instrumentation, one module per provider SDK, each behind the ``_invoke.Adapter`` contract.

A module is imported (and its ``install`` called) only when its provider package is importable.
"""
