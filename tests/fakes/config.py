"""Configuration of the fake upstream: ``FakeConfig`` (per app), ``Controls`` (per request) and the recording."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson

from tests.fakes.usage import Usage

CONTROL_HEADERS = (
    "x-fake-latency-ms",  # float: delay before the first byte
    "x-fake-chunk-delay-ms",  # float: delay between stream frames
    "x-fake-chunks",  # int: number of text pieces in a stream
    "x-fake-status",  # int: answer with this status and the provider's error body
    "x-fake-error-type",  # str: Bedrock x-amzn-ErrorType / error type to use with x-fake-status
    "x-fake-hang",  # 1: never answer (returns when the client disconnects)
    "x-fake-reset-after-chunks",  # int: send N stream frames (or half a JSON body), then abort the connection
    "x-fake-stall-after-chunks",  # int: send N stream frames, then go silent until the client disconnects
    "x-fake-stream-error-after-chunks",  # int: send N frames, then the provider's in-stream error event
    "x-fake-garbage",  # 1: 200 with invalid JSON / broken SSE / bad event stream CRC
    "x-fake-usage",  # JSON: usage in the provider's shape
    "x-fake-anthropic-delta-usage",  # "full" | "output": what message_delta.usage carries
)


class BadControl(ValueError):
    pass


@dataclass
class FakeConfig:
    """Defaults for every request; the per-request controls override the fault and timing fields."""

    # timing and streaming
    latency_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    stream_chunks: int = 4
    # with no chunk delay and no stream fault, send the whole stream in one write (fast for benchmarks)
    coalesce_streams: bool = True
    # deterministic usage: input = words in the prompt text x factor (>= 1); output = min(max_tokens, default)
    default_output_tokens: int = 16
    input_token_factor: int = 1
    reasoning_tokens: int = 0  # OpenAI only: part of the output tokens
    # faults applied to every request
    status: int | None = None
    hang: bool = False
    reset_after_chunks: int | None = None
    stall_after_chunks: int | None = None
    stream_error_after_chunks: int | None = None
    garbage: bool = False
    # provider flavour
    anthropic_full_delta_usage: bool = False
    # Azure prompt/content filter results (the stream then starts with a choices: [] chunk)
    azure_content_filters: bool = False
    azure_deployment_models: dict[str, str] = field(default_factory=dict)  # deployment -> reported model
    model_aliases: dict[str, str] = field(default_factory=dict)  # requested model -> reported model
    embedding_dimensions: int = 8
    bedrock_padding: bool = True  # the "p" field real Bedrock adds to event stream payloads
    created: int = 1_735_689_600  # fixed "created" timestamp
    # AWS
    verify_sigv4: bool = False
    aws_access_key_id: str = "AKIDFAKE"
    aws_secret_access_key: str = "fake-secret"
    # recording
    record: bool = True
    max_recorded: int | None = None  # keep only the last N requests (benchmarks); None: all; read at creation

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> FakeConfig:
        data = orjson.loads(raw)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(eq=False)
class RecordedRequest:
    seq: int
    method: str
    path: str  # percent-decoded
    raw_path: str  # as received (Bedrock model ids stay encoded)
    query: str
    headers: list[tuple[str, str]]  # (lower-case name, value) in arrival order
    body: bytes
    endpoint: str = "unknown"
    model: str | None = None  # requested model / deployment / Bedrock model id
    stream: bool = False
    status: int | None = None  # status the fake answered with (None: never answered)
    usage: Usage | None = None  # usage the fake reported
    sigv4_valid: bool | None = None  # None: not checked
    chunks_sent: int = 0  # stream frames handed to the server before any disconnect
    completed: bool = False  # the whole response was sent
    disconnected: bool = False  # the client went away before the response was complete
    reset: bool = False  # the fake aborted the connection on purpose
    received_at: float = 0.0
    finished_at: float | None = None

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self) -> Any:
        return orjson.loads(self.body)

    def summary(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "model": self.model,
            "stream": self.stream,
            "status": self.status,
            "chunks_sent": self.chunks_sent,
            "completed": self.completed,
            "disconnected": self.disconnected,
            "reset": self.reset,
            "sigv4_valid": self.sigv4_valid,
        }


@dataclass(slots=True)
class Controls:
    latency_ms: float
    chunk_delay_ms: float
    chunks: int
    status: int | None
    error_type: str | None
    hang: bool
    reset_after_chunks: int | None
    stall_after_chunks: int | None
    stream_error_after_chunks: int | None
    garbage: bool
    usage: dict[str, Any] | None
    anthropic_full_delta_usage: bool

    @classmethod
    def defaults(cls, c: FakeConfig) -> Controls:
        return cls(
            latency_ms=c.latency_ms,
            chunk_delay_ms=c.chunk_delay_ms,
            chunks=c.stream_chunks,
            status=c.status,
            error_type=None,
            hang=c.hang,
            reset_after_chunks=c.reset_after_chunks,
            stall_after_chunks=c.stall_after_chunks,
            stream_error_after_chunks=c.stream_error_after_chunks,
            garbage=c.garbage,
            usage=None,
            anthropic_full_delta_usage=c.anthropic_full_delta_usage,
        )

    def apply(self, name: str, value: Any) -> None:
        """Apply one control (``name`` without the ``x-fake-`` prefix, ``-`` or ``_``)."""
        name = name.replace("_", "-").lower()
        try:
            if name == "latency-ms":
                self.latency_ms = float(value)
            elif name == "chunk-delay-ms":
                self.chunk_delay_ms = float(value)
            elif name == "chunks":
                self.chunks = int(value)
            elif name == "status":
                self.status = int(value)
            elif name == "error-type":
                self.error_type = str(value)
            elif name == "hang":
                self.hang = _truthy(value)
            elif name == "reset-after-chunks":
                self.reset_after_chunks = int(value)
            elif name == "stall-after-chunks":
                self.stall_after_chunks = int(value)
            elif name == "stream-error-after-chunks":
                self.stream_error_after_chunks = int(value)
            elif name == "garbage":
                self.garbage = _truthy(value)
            elif name == "usage":
                usage = orjson.loads(value) if isinstance(value, str | bytes) else value
                if not isinstance(usage, dict):
                    raise BadControl("x-fake-usage must be a JSON object")
                self.usage = usage
            elif name == "anthropic-delta-usage":
                self.anthropic_full_delta_usage = str(value).lower() == "full"
            else:
                raise BadControl(f"unknown fake control x-fake-{name}")
        except (TypeError, ValueError, orjson.JSONDecodeError) as exc:
            if isinstance(exc, BadControl):
                raise
            raise BadControl(f"bad value for x-fake-{name}: {value!r}") from exc


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def collect_controls(ctl: Controls, headers: Iterable[tuple[str, str]], data: Any) -> None:
    """Apply body controls (``x_fake``, Converse ``requestMetadata``), then headers (headers win)."""
    if isinstance(data, dict):
        body_ctl = data.get("x_fake")
        if isinstance(body_ctl, dict):
            for name, value in body_ctl.items():
                ctl.apply(name, value)
        meta = data.get("requestMetadata")
        if isinstance(meta, dict):
            for name, value in meta.items():
                if isinstance(name, str) and name.lower().startswith("x-fake-"):
                    ctl.apply(name[7:], value)
    for name, value in headers:
        if name.startswith("x-fake-"):
            ctl.apply(name[7:], value)
