"""Tool (function) calls read out of Anthropic-shaped content, shared by the Anthropic and Bedrock adapters.

Example:
    >>> tool_uses([{"type": "tool_use", "name": "weather", "input": {"city": "Oslo"}}])
    [{'name': 'weather', 'arguments': '{"city": "Oslo"}'}]
"""

from __future__ import annotations

import json
from typing import Any

from ...types.ingest_units_params import FunctionCallInfoParam
from ..units._common import mapping

__all__ = ["stream_tool_uses", "tool_uses"]


def tool_uses(content: Any) -> list[FunctionCallInfoParam]:
    """``tool_use`` blocks of a Messages response's ``content``."""
    calls: list[FunctionCallInfoParam] = []
    for block in content or ():
        block = mapping(block)
        if block.get("type") == "tool_use" and block.get("name"):
            arguments = block.get("input")
            calls.append(
                {
                    "name": block["name"],
                    "arguments": json.dumps(arguments, ensure_ascii=False) if arguments else None,
                }
            )
    return calls


def stream_tool_uses(events: list[Any]) -> list[FunctionCallInfoParam]:
    """``tool_use`` blocks assembled from a Messages stream (``content_block_start`` + ``input_json_delta``)."""
    building: dict[int, list[str]] = {}
    for event in events:
        event = mapping(event)
        kind = event.get("type")
        index = event.get("index")
        if not isinstance(index, int):
            continue
        if kind == "content_block_start":
            block = mapping(event.get("content_block"))
            if block.get("type") == "tool_use":
                building[index] = [str(block.get("name") or ""), ""]
        elif kind == "content_block_delta" and index in building:
            delta = mapping(event.get("delta"))
            if delta.get("type") == "input_json_delta":
                building[index][1] += str(delta.get("partial_json") or "")
    return [{"name": name, "arguments": arguments or None} for name, arguments in building.values() if name]
