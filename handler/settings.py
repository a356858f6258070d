"""The app's configuration, read once from the environment and validated before serving."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TypeVar

from handler.caller import PRINCIPALS, SOURCES, CallerSource
from handler.cors import ANY_ORIGIN, NO_ORIGIN, OriginListError, parse_origins
from handler.metrics import DEFAULT_NAMESPACE, NAMESPACE

T = TypeVar("T", int, float)

BACKENDS = ("agentcore", "bedrock", "demo")
GUARDRAIL_STREAM_MODES = ("sync", "async")
# Bedrock's own patterns for a guardrail's identifier (an id or its ARN) and version.
GUARDRAIL_IDENTIFIER = re.compile(r"[a-z0-9]+|arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{1,20}:\d{12}:guardrail/[a-z0-9]+")
GUARDRAIL_VERSION = re.compile(r"(?:[0-9]{1,8}|DRAFT)")


class ConfigError(ValueError):
    """A bad setting; the message is one line naming the variable, its value and what is allowed."""


@dataclass(frozen=True)
class ModelOptions:
    """The model's settings (bedrock); None leaves the model's own default. The stack sets them on the function
    (infra/config.py, through `environment`) and the app reads them back (`Settings.from_env`), both naming each
    variable by `variable`, so a setting renamed on one side is renamed on the other."""

    system_prompt: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    guardrail_identifier: str | None = None
    guardrail_version: str | None = None
    guardrail_stream_mode: str = "sync"
    # Model-specific request fields, e.g. {"thinking": {"type": "enabled", "budget_tokens": 2048}} to make
    # an Anthropic model reason (Bedrock's additionalModelRequestFields).
    model_request_fields: str | None = None

    @staticmethod
    def variable(field: str) -> str:
        """The environment variable a setting travels in: its field's name in capitals (MAX_TOKENS, ...)."""
        return field.upper()

    def environment(self) -> dict[str, str]:
        """The variables for the settings that are set; the stream mode goes only with a guardrail."""
        values = {field.name: getattr(self, field.name) for field in fields(ModelOptions)}
        if not self.guardrail_identifier:
            values["guardrail_stream_mode"] = None
        return {self.variable(name): str(value) for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class Settings(ModelOptions):
    backend: str = "demo"
    agent_runtime_arn: str | None = None
    agent_qualifier: str | None = None
    model_id: str | None = None
    # Handed to the AWS client: botocore reads AWS_DEFAULT_REGION only, a laptop may set AWS_REGION only.
    aws_region: str | None = None
    max_body_bytes: int = 1024 * 1024
    cors_allow_origins: tuple[str, ...] = (ANY_ORIGIN,)
    heartbeat_seconds: float = 15.0
    # How long the backend may take to answer before the response is committed as a stream.
    open_grace_seconds: float = 2.0
    origin_verify_secret: str | None = None
    origin_verify_header: str = "x-origin-verify"
    # The secret of the deployment before a rotation, accepted beside the current one until the next rotation.
    origin_verify_previous: str | None = None
    demo_token_delay: float = 0.04
    body_timeout_seconds: float = 10.0
    max_answer_bytes: int = 8 * 1024 * 1024
    # Below Lambda's 1,024 file descriptors, with room for each stream's upstream connection.
    max_connections: int = 512
    metrics_namespace: str = DEFAULT_NAMESPACE
    # GET / serves the page in handler/web/ (the stack's webUi setting; on for `make local`).
    web_ui: bool = True
    # Set when an authorizer guards the API: every invoke then has a caller, and sessions are scoped to it.
    caller_source: CallerSource | None = None

    @property
    def origin_verify_secrets(self) -> tuple[str, ...]:
        """Every secret the origin guard accepts: the current one, and the previous one during a rotation."""
        return tuple(s for s in (self.origin_verify_secret, self.origin_verify_previous) if s)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        backend = reader.choice("BACKEND", BACKENDS, default="demo")
        heartbeat = reader.number("HEARTBEAT_SECONDS", cls.heartbeat_seconds, low=0.01, high=600)
        settings = cls(
            backend=backend,
            agent_runtime_arn=reader.text("AGENT_RUNTIME_ARN"),
            agent_qualifier=reader.text("AGENT_QUALIFIER"),
            model_id=reader.text("MODEL_ID"),
            aws_region=reader.text("AWS_REGION") or reader.text("AWS_DEFAULT_REGION"),
            max_body_bytes=reader.integer("MAX_BODY_BYTES", cls.max_body_bytes, low=1, high=10 * 1024**2),
            cors_allow_origins=_origins(reader),
            heartbeat_seconds=heartbeat,
            open_grace_seconds=_open_grace(reader, heartbeat),
            origin_verify_secret=reader.secret("ORIGIN_VERIFY_SECRET"),
            origin_verify_previous=reader.secret("ORIGIN_VERIFY_SECRET_PREVIOUS"),
            origin_verify_header=(reader.text("ORIGIN_VERIFY_HEADER") or cls.origin_verify_header).lower(),
            demo_token_delay=reader.number("DEMO_TOKEN_DELAY", cls.demo_token_delay, low=0, high=10),
            body_timeout_seconds=reader.number("BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds, low=0.01, high=900),
            max_answer_bytes=reader.integer("MAX_ANSWER_BYTES", cls.max_answer_bytes, low=1024, high=2**31),
            max_connections=reader.integer("MAX_CONNECTIONS", cls.max_connections, low=1, high=100_000),
            metrics_namespace=reader.pattern(
                "METRICS_NAMESPACE",
                NAMESPACE,
                cls.metrics_namespace,
                "a CloudWatch namespace (1-255 of A-Z a-z 0-9 space . - _ / # :, not starting with AWS/)",
            ),
            web_ui=reader.flag("WEB_UI", cls.web_ui),
            **_model_options(reader),
            caller_source=_caller_source(reader),
        )
        if (settings.guardrail_identifier is None) != (settings.guardrail_version is None):
            raise ConfigError("GUARDRAIL_IDENTIFIER and GUARDRAIL_VERSION go together: set both or neither")
        if settings.origin_verify_previous and not settings.origin_verify_secret:
            raise ConfigError("ORIGIN_VERIFY_SECRET_PREVIOUS needs ORIGIN_VERIFY_SECRET (the current secret)")
        if backend == "agentcore" and not settings.agent_runtime_arn:
            raise ConfigError("AGENT_RUNTIME_ARN is required when BACKEND=agentcore")
        if backend == "bedrock" and not settings.model_id:
            raise ConfigError("MODEL_ID is required when BACKEND=bedrock")
        if backend != "demo" and not settings.aws_region:
            raise ConfigError(f"AWS_REGION is not set (Lambda sets it; export it to run BACKEND={backend} locally)")
        return settings


def _model_options(reader: _Reader) -> dict[str, object]:
    """The model's settings, each from the variable `ModelOptions.environment` sets it in."""
    name = ModelOptions.variable
    return {
        "system_prompt": reader.text(name("system_prompt")),
        "max_tokens": reader.optional_integer(name("max_tokens"), low=1, high=1_000_000),
        "temperature": reader.optional_number(name("temperature"), low=0, high=1),
        "top_p": reader.optional_number(name("top_p"), low=0, high=1),
        "guardrail_identifier": reader.matching(
            name("guardrail_identifier"), GUARDRAIL_IDENTIFIER, "a guardrail id or ARN"
        ),
        "guardrail_version": reader.matching(name("guardrail_version"), GUARDRAIL_VERSION, "a version number or DRAFT"),
        "guardrail_stream_mode": reader.choice(name("guardrail_stream_mode"), GUARDRAIL_STREAM_MODES, default="sync"),
        "model_request_fields": reader.json_object(name("model_request_fields")),
    }


def _open_grace(reader: _Reader, heartbeat: float) -> float:
    """The grace is silence on the wire, so it stays below the heartbeat that bounds every other silence."""
    if reader.text("OPEN_GRACE_SECONDS") is None:
        return min(Settings.open_grace_seconds, heartbeat / 2)
    grace = reader.number("OPEN_GRACE_SECONDS", Settings.open_grace_seconds, low=0, high=600)
    if grace >= heartbeat:
        raise ConfigError(
            f"OPEN_GRACE_SECONDS={grace:g} must be below HEARTBEAT_SECONDS={heartbeat:g} "
            "(the grace is silence before the first byte)"
        )
    return grace


def _origins(reader: _Reader) -> tuple[str, ...]:
    raw = reader.text("CORS_ALLOW_ORIGINS")
    if raw is None:
        return Settings.cors_allow_origins
    if raw == NO_ORIGIN:
        return ()
    try:
        return parse_origins(raw.split(","))
    except OriginListError as error:
        raise ConfigError(f"CORS_ALLOW_ORIGINS={raw!r}: {error}") from None


def _caller_source(reader: _Reader) -> CallerSource | None:
    authorizer = reader.choice("AUTHORIZER", ("none", *PRINCIPALS), default="none")
    via = reader.text("CALLER_FROM")
    if authorizer == "none":
        if via:
            raise ConfigError(f"CALLER_FROM={via!r} needs AUTHORIZER (one of {', '.join(PRINCIPALS)})")
        return None
    if via not in SOURCES:
        raise ConfigError(f"CALLER_FROM={via or ''!r} is not one of {', '.join(SOURCES)} (needed with AUTHORIZER)")
    return CallerSource(authorizer, via)


_FLAGS = {"true": True, "1": True, "false": False, "0": False}


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def secret(self, name: str) -> str | None:
        """A secret may be absent, but one that is set and empty would silently switch its check off."""
        if name not in self._env:
            return None
        value = self._env[name].strip()
        if not value:
            raise ConfigError(f"{name} is set but empty; unset it, or set the secret (refusing to start unguarded)")
        return value

    def text(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name) or default
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")
        return value

    def pattern(self, name: str, regex: re.Pattern[str], default: str, allowed: str) -> str:
        value = self.text(name) or default
        if not regex.match(value):
            raise ConfigError(f"{name}={value!r} is not {allowed}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() not in _FLAGS:
            raise ConfigError(f"{name}={raw!r} is not one of true, false")
        return _FLAGS[raw.lower()]

    def matching(self, name: str, pattern: re.Pattern[str], kind: str) -> str | None:
        value = self.text(name)
        if value is not None and not pattern.fullmatch(value):
            raise ConfigError(f"{name}={value!r} is not {kind}")
        return value

    def json_object(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ConfigError(f"{name}={value!r} is not a JSON object")
        return value

    def optional_number(self, name: str, *, low: float, high: float) -> float | None:
        return None if self.text(name) is None else self.number(name, low, low=low, high=high)

    def optional_integer(self, name: str, *, low: int, high: int) -> int | None:
        return None if self.text(name) is None else self.integer(name, low, low=low, high=high)

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        return self._parsed(name, default, float, "a number", low, high)

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        return self._parsed(name, default, int, "a whole number", low, high)

    def _parsed(self, name: str, default: T, parse: Callable[[str], T], kind: str, low: T, high: T) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not {kind} (allowed {low}..{high})") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}={raw!r} is out of range (allowed {low}..{high})")
        return value
