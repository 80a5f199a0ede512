"""Incremental Server-Sent Events decoding for the proxy hot path.

The proxy forwards every upstream byte to the client as it arrives and reads usage from the events as they pass
(design/ARCHITECTURE.md, "Hot path rules"). ``SSEDecoder.feed`` cuts the byte stream into events without
copying or re-encoding them: each ``SSEEvent.raw`` is the exact upstream bytes of one event, terminating blank
line included, so ``b"".join(e.raw for e in events)`` is byte-for-byte the input and untouched events can be
forwarded as ``raw``. Only events the proxy changes (``xproxy_result``) are re-encoded with ``encode_event``.

Parsing follows the WHATWG EventSource rules: lines end in ``\\r\\n``, ``\\n`` or ``\\r``; an empty line ends an
event; ``:`` starts a comment; ``field: value`` drops one space after the colon; ``data`` lines are joined with
``\\n``; a UTF-8 BOM at the start of the stream is ignored. Events may be split across chunks at any byte,
including inside a multi-byte UTF-8 character or between ``\\r`` and ``\\n``: an event is only decoded once its
terminating blank line is complete. The scan uses ``bytes.find`` / one compiled regex, never a per-byte loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["SSEDecoder", "SSEEvent", "encode_event"]

_CR: Final = 0x0D
# One line terminator followed by a second one (= an empty line). A lone "\r" only counts as the first
# terminator when it is not the start of "\r\n"; a match that ends in "\r" at the end of the buffer is not final
# until the next byte shows whether a "\n" follows.
_BOUNDARY: Final = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r|\n)")
_LINES: Final = re.compile(r"\r\n|\r|\n")
# The longest boundary is 4 bytes: a search may start 3 bytes before the old end of the buffer.
_BOUNDARY_LOOKBACK: Final = 3


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field through object.__setattr__ (every event)
class SSEEvent:
    """One event: its exact bytes and its parsed fields.

    ``has_data`` is False for blocks without any ``data`` line (comments such as ``: ping``, stray blank lines):
    they are not dispatched by EventSource clients but still have to be forwarded. ``complete`` is False only
    for a trailing event returned by ``SSEDecoder.flush()`` that was never terminated by a blank line.
    """

    raw: bytes
    event: str | None = None
    data: str = ""
    id: str | None = None
    retry: int | None = None
    has_data: bool = False
    complete: bool = True


def _parse(raw: bytes, *, complete: bool, strip_bom: bool) -> SSEEvent:
    # The usual event, of every provider's stream: one ``data: `` line ended by "\n\n" (no "\r", no BOM). Its data
    # is what the general rules below give: the line after "data: ".
    if raw.startswith(b"data: ") and raw.find(b"\n") == len(raw) - 2 and raw.endswith(b"\n\n") and b"\r" not in raw:
        return SSEEvent(raw, None, raw[6:-2].decode("utf-8", errors="replace"), None, None, True, complete)
    return _parse_lines(raw, complete=complete, strip_bom=strip_bom)


def _parse_lines(raw: bytes, *, complete: bool, strip_bom: bool) -> SSEEvent:
    text = raw.decode("utf-8", errors="replace")
    if strip_bom and text.startswith("\ufeff"):
        text = text[1:]
    lines = _LINES.split(text) if "\r" in text else text.split("\n")
    event: str | None = None
    event_id: str | None = None
    retry: int | None = None
    data: list[str] = []
    for line in lines:
        if not line or line[0] == ":":
            continue
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            if "\0" not in value:
                event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                retry = int(value)
    return SSEEvent(
        raw=raw,
        event=event,
        data="\n".join(data),
        id=event_id,
        retry=retry,
        has_data=bool(data),
        complete=complete,
    )


class SSEDecoder:
    """Feed raw upstream chunks; get complete events back. Not thread-safe (one decoder per stream)."""

    __slots__ = ("_buf", "_has_cr", "_scan", "_started")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # where the next boundary search starts (everything before it has been searched)
        self._has_cr = False  # until a "\r" shows up, boundaries are simply b"\n\n"
        self._started = False  # an event was already emitted (BOM handling)

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned in an event."""
        return len(self._buf)

    @property
    def started(self) -> bool:
        """An event was returned already (a BOM is only stripped before the first)."""
        return self._started

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Add upstream bytes; return the events they complete, in order."""
        if not chunk:
            return []
        if not self._has_cr and b"\r" in chunk:
            self._has_cr = True
        self._buf += chunk
        return self._drain(final=False)

    def flush(self) -> list[SSEEvent]:
        """End of stream: return what is left, the last unterminated event with ``complete=False``."""
        events = self._drain(final=True)
        if self._buf:
            events.append(self._event(bytes(self._buf), complete=False))
        self._buf.clear()
        self._scan = 0
        return events

    def _event(self, raw: bytes, *, complete: bool) -> SSEEvent:
        strip_bom = not self._started
        self._started = True
        return _parse(raw, complete=complete, strip_bom=strip_bom)

    def _drain(self, *, final: bool) -> list[SSEEvent]:
        buf = self._buf
        events: list[SSEEvent] = []
        start = 0
        scan = self._scan
        if not self._has_cr:
            while (index := buf.find(b"\n\n", scan)) >= 0:
                end = index + 2
                events.append(self._event(bytes(buf[start:end]), complete=True))
                start = scan = end
            next_scan = max(start, len(buf) - 1)
        else:
            while True:
                match = _BOUNDARY.search(buf, scan)
                if match is None:
                    next_scan = max(start, len(buf) - _BOUNDARY_LOOKBACK)
                    break
                end = match.end()
                if end == len(buf) and buf[end - 1] == _CR and not final:
                    next_scan = match.start()  # "\r" may be the first half of "\r\n": wait for the next byte
                    break
                events.append(self._event(bytes(buf[start:end]), complete=True))
                start = scan = end
        if start:
            del buf[:start]
            next_scan -= start
        self._scan = next_scan
        return events


def encode_event(event: str | None, data: str, *, id: str | None = None) -> bytes:
    """Encode one event (``event:`` line if given, one ``data:`` line per line of ``data``, blank line)."""
    parts: list[str] = []
    if event is not None:
        if "\r" in event or "\n" in event:
            raise ValueError("SSE event name must not contain line breaks")
        parts.append(f"event: {event}\n")
    if id is not None:
        if "\r" in id or "\n" in id or "\0" in id:
            raise ValueError("SSE id must not contain line breaks or NUL")
        parts.append(f"id: {id}\n")
    for line in _LINES.split(data):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8")
