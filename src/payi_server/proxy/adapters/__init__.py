"""Provider adapters, by the route segment that selects them (``/api/v1/proxy/<name>/...``)."""

from __future__ import annotations

from .anthropic import AnthropicAdapter, AzureAnthropicAdapter
from .base import Adapter
from .bedrock import BedrockAdapter
from .openai import AzureOpenAIAdapter, OpenAIAdapter

ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (OpenAIAdapter(), AzureOpenAIAdapter(), AnthropicAdapter(), AzureAnthropicAdapter(), BedrockAdapter())
}
