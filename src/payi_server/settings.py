"""Every setting of the service, read once from ``PAYI_SERVER_*`` environment variables.

Nothing else in the service reads the environment. A malformed value stops start-up with a message that
names the variable (``PAYI_SERVER_PORT: Input should be a valid integer ...``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "PAYI_SERVER_"

DEFAULT_PROVIDER_HOSTS = (
    "api.openai.com",
    "api.anthropic.com",
    "*.openai.azure.com",
    "*.cognitiveservices.azure.com",
    "*.services.ai.azure.com",
    "*.models.ai.azure.com",
    "bedrock-runtime.*.amazonaws.com",
    "bedrock-runtime-fips.*.amazonaws.com",
    "bedrock.*.amazonaws.com",
    "*.cloud.databricks.com",
    "*.azuredatabricks.net",
    "*.gcp.databricks.com",
)


_HOST_PATTERN = re.compile(r"(\*|[a-z0-9_-]+|\*\.[a-z0-9_.*-]+|[a-z0-9_-]+(\.[a-z0-9_*-]+)+\.?)(:[0-9]{1,5})?")


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    """An absolute URL of one of ``schemes`` with a host (unix sockets: a path), else ValueError."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("is not a URL") from None
    if parts.scheme not in schemes:
        raise ValueError(f"must be a {' or '.join(s + '://' for s in schemes)} URL")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// URL needs a socket path")
    elif not parts.hostname or any(c.isspace() for c in value):
        raise ValueError(f"must be a {parts.scheme}:// URL with a host")
    return value


class SettingsError(Exception):
    """A setting could not be read; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # --- process -----------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    access_log: bool = True

    # --- storage -----------------------------------------------------------------------------------
    data_dir: Path = Path("./data")
    database_url: str = ""  # empty: SQLite file <data_dir>/payi.db
    database_pool_size: int = Field(default=10, ge=1, le=500)
    migrate_on_start: bool = True

    # --- keys --------------------------------------------------------------------------------------
    # HMAC-SHA256 secret for API-key hashes. Production sets it explicitly (the same on every server
    # process); when unset, one is generated at first start and kept in <data_dir>/secret.key (mode 0600).
    secret_key: SecretStr | None = None
    key_refresh_interval: float = Field(default=0.25, gt=0, le=5)
    key_cache_size: int = Field(default=100_000, ge=100)

    auth_failure_limit: int = Field(default=30, ge=1)
    auth_failure_window: float = Field(default=60.0, gt=0)

    # --- observability -----------------------------------------------------------------------------
    metrics: bool = True
    otel_endpoint: str = ""  # OTLP/HTTP traces endpoint; needs the "otel" extra
    otel_service_name: str = "payi-server"

    # --- request limits ----------------------------------------------------------------------------
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    proxy_max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # --- proxy -------------------------------------------------------------------------------------
    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_base_url: str = "https://api.anthropic.com"
    azure_openai_base_url: str = ""
    azure_anthropic_base_url: str = ""
    aws_bedrock_base_url: str = ""
    # NoDecode: the raw text reaches ``_split_hosts`` (pydantic-settings would read it as JSON only).
    provider_hosts: Annotated[tuple[str, ...], NoDecode] = DEFAULT_PROVIDER_HOSTS
    allow_private_provider_hosts: bool = False
    upstream_connect_timeout: float = Field(default=10.0, gt=0)
    upstream_timeout: float = Field(default=600.0, gt=0)
    disconnect_drain_timeout: float = Field(default=30.0, ge=0)

    # --- recording ---------------------------------------------------------------------------------
    record_batch_size: int = Field(default=500, ge=1, le=10_000)
    record_flush_interval: float = Field(default=0.0, ge=0, le=5)
    # Seconds a batch of proxied calls (already answered and journaled) waits for more before it is written.
    record_linger: float = Field(default=0.005, ge=0, le=1)
    # Seconds a process's budget lease on a block limit outlives its last renewal (a dead process's leases
    # return to the limit after this); renewed about every ttl/4 seconds.
    lease_ttl: float = Field(default=10.0, ge=1, le=3600)

    # --- retention (store/retention.py) --------------------------------------------------------------
    # Days request rows, and separately stored prompts and responses, are kept (0: forever); an application can
    # override either. One process at a time deletes what expired, every retention_interval seconds, in
    # transactions of at most retention_batch_size requests.
    request_retention_days: int = Field(default=0, ge=0, le=36_500)
    payload_retention_days: int = Field(default=0, ge=0, le=36_500)
    retention_interval: float = Field(default=3600.0, ge=1, le=7 * 86_400)
    retention_batch_size: int = Field(default=2000, ge=1, le=10_000)

    # --- optional: instant cache invalidation across processes ------------------------------------
    redis_url: str = ""
    redis_prefix: str = Field(default="payi", min_length=1, max_length=100)

    @field_validator("provider_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        """A comma-separated list (as the README documents) or a JSON array of host patterns."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("must be a comma-separated list or a JSON array of host patterns") from None
                if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
                    raise ValueError("a JSON array of host patterns holds strings only")
            else:
                value = text.split(",")
        if isinstance(value, (list, tuple)):
            hosts = tuple(h.strip().lower() for h in value if isinstance(h, str) and h.strip())
            if not hosts:
                raise ValueError("names no host pattern")
            bad = [h for h in hosts if not _HOST_PATTERN.fullmatch(h)]
            if bad:
                raise ValueError(f"not a host pattern: {bad[0][:100]!r}")
            return hosts
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:", "sqlite+aiosqlite:", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("must start with sqlite:// or postgresql://")
        if value and not value.startswith("sqlite"):
            _check_url(value, ("postgresql", "postgresql+asyncpg", "postgresql+psycopg", "postgres"))
        elif value and not value.startswith(("sqlite:///", "sqlite+aiosqlite:///")):
            raise ValueError("must be sqlite:///path/to/file.db")
        return value

    @field_validator(
        "openai_base_url", "anthropic_base_url", "azure_openai_base_url", "azure_anthropic_base_url",
        "aws_bedrock_base_url",
    )
    @classmethod
    def _check_http_url(cls, value: str) -> str:
        return _check_url(value, ("http", "https")) if value else value

    @field_validator("otel_endpoint")
    @classmethod
    def _check_otel(cls, value: str) -> str:
        if not value:
            return value
        _check_url(value, ("http", "https"))
        try:  # the exporter the service would start: a missing extra is said at start, not at the first call
            import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
            import opentelemetry.sdk.trace  # noqa: F401
        except ImportError:
            raise ValueError("needs the otel extra: pip install 'payi-selfhosted[server,otel]'") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str) -> str:
        return _check_url(value, ("redis", "rediss", "unix")) if value else value

    # --- derived -----------------------------------------------------------------------------------
    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the async driver the service uses."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'payi.db').as_posix()}"
        for prefix, replacement in (
            ("sqlite+aiosqlite://", "sqlite+aiosqlite://"),
            ("sqlite://", "sqlite+aiosqlite://"),
            ("postgresql+asyncpg://", "postgresql+asyncpg://"),
            ("postgresql+psycopg://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
        ):
            if url.startswith(prefix):
                return replacement + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment (plus explicit overrides, used by the CLI and tests)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ENV_PREFIX + "_".join(str(p) for p in err["loc"] if isinstance(p, str)).upper()
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid setting: " + "; ".join(problems)) from None


def resolve_secret(settings: Settings) -> bytes:
    """The key-hashing secret: the setting, or the generated one kept beside the embedded database."""
    if settings.secret_key is not None:
        configured = settings.secret_key.get_secret_value()
        if len(configured) < 32:
            raise SettingsError(f"{ENV_PREFIX}SECRET_KEY: must be at least 32 characters")
        return configured.encode()
    path = settings.data_dir / "secret.key"
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SettingsError(f"{path}: the key-hashing secret must be readable by its owner only (chmod 600)")
        return path.read_bytes().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    # O_EXCL: two processes starting together never both write a secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process is writing it right now: wait for its content.
        for _ in range(50):
            written = path.read_bytes().strip()
            if written:
                return written
            time.sleep(0.02)
        raise SettingsError(f"{path}: exists but is empty") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(value + b"\n")
    return value
