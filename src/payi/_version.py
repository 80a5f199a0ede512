"""The SDK's name and version (kept equal to the distribution version in pyproject.toml)."""

__title__ = "payi"
__version__ = "0.1.0"
