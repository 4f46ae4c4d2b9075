"""One typed settings object, built once at start-up and passed down.

Sources, lowest to highest precedence: built-in defaults, a YAML settings file
(``--config FILE`` or ``GATEWAY_CONFIG``), ``GATEWAY_*`` environment variables, then
command-line flags. Unknown keys in the file are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policies" / "default.yaml"
MIN_SECRET_CHARS = 32
# Used only with ``dev: true``; a gateway started without it refuses to run on this key.
DEV_PSEUDONYM_KEY = "development-only-pseudonym-key-never-use-in-production"


class InsecureSettings(ValueError):
    """A secret is missing or weak and development mode is off."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid", frozen=True)

    # --- HTTP server
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    admin_token: SecretStr | None = None  # bearer token for /admin routes; unset = admin off
    # Development mode: a built-in pseudonym key is used when none is set. Never in production.
    dev: bool = False

    # --- upstream LLM (clients never choose it)
    upstream_url: str = "http://127.0.0.1:8000/v1"
    upstream_api_key: SecretStr | None = None
    upstream_connect_timeout: float = Field(5.0, gt=0)
    upstream_read_timeout: float = Field(120.0, gt=0)  # between bytes, not for the whole stream
    upstream_max_connections: int = Field(512, gt=0)

    # --- moderation
    policy: Path = DEFAULT_POLICY
    policy_reload_interval: float = Field(1.0, ge=0)  # seconds between file checks; 0 = off
    policy_cache_dir: Path = Path("var/gateway/policy-cache")  # bundles from other replicas
    # "auto": the shipped model (models/zh_safety_ngram) when torch is installed, else none;
    # or a local model directory, an http(s) URL of another gateway, a hub id, or "none".
    classifier: str = "auto"
    classifier_device: Literal["auto", "cpu", "cuda", "hpu"] = "auto"
    user_header: str = "x-gateway-user"  # end-user id when the body has no "user"

    # --- the local classifier's batching core and verdict cache (docs/classifiers.md)
    classifier_max_batch: int | None = Field(None, gt=0)  # rows per call; unset: the model's
    classifier_max_batch_tokens: int | None = Field(None, gt=0)  # padded tokens; unset: model
    classifier_max_wait_us: int = Field(0, ge=0)  # an idle model's wait for company; 0: none
    classifier_max_queue: int = Field(2048, gt=0)  # rows waiting; more is refused at once
    classifier_workers: int | None = Field(None, gt=0)  # model threads; unset: 2 on CPU
    classifier_timeout_s: float = Field(30.0, gt=0)  # per classify call
    classifier_cache_size: int = Field(100_000, ge=0)  # in-process verdicts; 0: no LRU
    classifier_cache_ttl_s: int = Field(86_400, gt=0)  # verdicts kept in Redis
    # Bearer token for a classifier on a serving engine (vLLM/TEI --api-key, a gateway's key).
    classifier_api_key: SecretStr | None = None
    classifier_max_connections: int = Field(64, gt=0)  # per served classifier

    # --- a second, stronger classifier for the policy's cascade (policy `cascade:`); any
    # form `classifier` takes, e.g. openai-guard+http://guard:8000/v1?model=qwen3guard
    classifier_second: str = "none"
    classifier_second_api_key: SecretStr | None = None

    # --- shared state and the decision log
    redis_url: str | None = None  # e.g. redis://127.0.0.1:6379/0; unset = single process
    redis_prefix: str = Field("gw", pattern=r"^[A-Za-z0-9_.-]{1,32}$")  # one per deployment
    audit_url: str = "sqlite:///var/gateway/audit.db"
    audit_spool_dir: Path = Path("var/gateway/spool")
    audit_retention_days: int = Field(180, ge=1)
    # Signed chain heads, appended and fsynced outside the database: put it on another
    # volume or an object-store mount with a retention lock (docs/audit.md, Threat model).
    audit_checkpoint_dir: Path = Path("var/gateway/checkpoints")
    audit_checkpoint_interval: float = Field(60.0, gt=0)  # seconds between checkpoints
    # Keys the hashes of end-user ids and of kept texts, and (through derived keys) the
    # decision log's chain, anchors and checkpoints; >= 32 characters, stable over time.
    pseudonym_key: SecretStr | None = None
    console_db: Path = Path("var/gateway/console.db")  # console accounts, drafts, versions
    # Candidate classifiers a console shadow run may judge with (model directories or URLs,
    # like ``classifier``); loaded only when a run asks for one.
    shadow_classifiers: tuple[str, ...] = ()
    # Complaint tickets and incident records (gateway/reports). Unset: the decision log's
    # database (same retention, one backup); "none": complaints and reports off.
    reports_url: str | None = None
    # TC260-003 assessment runs (`gateway assess run`): one folder per run, listed in the
    # console with its status and reports.
    assess_dir: Path = Path("var/gateway/assess")

    @field_validator("upstream_url")
    @classmethod
    def _upstream_is_http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("upstream_url must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("admin_token")
    @classmethod
    def _admin_token_is_strong(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        token = v.get_secret_value()
        if len(token) < MIN_SECRET_CHARS or token != token.strip() or " " in token:
            raise ValueError(
                f"admin_token must be at least {MIN_SECRET_CHARS} characters with no spaces "
                "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return v

    def secret_problems(self) -> list[str]:
        """Why these settings are unsafe outside development mode (empty when they are not)."""
        key = self.pseudonym_key.get_secret_value() if self.pseudonym_key else ""
        if not key:
            return ["pseudonym_key (GATEWAY_PSEUDONYM_KEY) is not set"]
        if len(key) < MIN_SECRET_CHARS or key == DEV_PSEUDONYM_KEY or key.startswith("replace-"):
            return [f"pseudonym_key (GATEWAY_PSEUDONYM_KEY) must be at least {MIN_SECRET_CHARS} "
                    "random characters"]  # fmt: skip
        return []

    def check_secrets(self) -> None:
        """Refuse weak secrets unless ``dev`` is on (then the built-in key stands in)."""
        problems = self.secret_problems()
        if problems and not self.dev:
            raise InsecureSettings(
                "; ".join(problems) + ". Set it (python -c 'import secrets; "
                "print(secrets.token_hex(32))'), or run with --dev / GATEWAY_DEV=1 for "
                "development only."
            )

    def pseudonym_secret(self) -> str:
        """The key for pseudonyms and text hashes (the built-in one only in development)."""
        if self.pseudonym_key is not None and not self.secret_problems():
            return self.pseudonym_key.get_secret_value()
        if not self.dev:
            self.check_secrets()
        return DEV_PSEUDONYM_KEY

    def reports_database(self) -> str | None:
        """Where tickets live, or None when complaints and reports are off."""
        url = (self.reports_url or self.audit_url).strip()
        return None if url.lower() == "none" else url


def parse_assignments(pairs: list[str] | None) -> dict[str, str]:
    """``--set name=value`` flags as a dict; an unknown name is an error that names it."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ValueError(f"--set {pair!r}: expected NAME=VALUE")
        if name not in Settings.model_fields:
            raise ValueError(f"--set {name}: no such setting (see: gateway config show)")
        out[name] = value
    return out


def explain_settings(
    config_file: Path | None = None, **overrides: Any
) -> list[tuple[str, str, str]]:
    """Each effective setting as ``(name, value, source)``, where source is ``flag``,
    ``env`` (``GATEWAY_*``), ``file`` or ``default``. Secrets are masked."""
    settings = load_settings(config_file, **overrides)
    file_values: dict[str, Any] = {}
    if config_file is not None:
        file_values = yaml.safe_load(config_file.read_text("utf-8")) or {}
    env_set = Settings().model_fields_set
    given = {k for k, v in overrides.items() if v is not None}
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown = "****" if value.get_secret_value() else "(empty)"
        elif name in ("redis_url", "audit_url") and isinstance(value, str) and "@" in value:
            scheme, _, rest = value.partition("://")
            shown = f"{scheme}://****@{rest.rsplit('@', 1)[1]}"  # no credentials on screen
        else:
            shown = "(unset)" if value is None else str(value)
        source = (
            "flag" if name in given
            else "env" if name in env_set
            else "file" if name in file_values
            else "default"
        )  # fmt: skip
        rows.append((name, shown, source))
    return rows


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from an optional YAML file, the environment, and explicit overrides.

    Environment variables win over the file; ``overrides`` (command-line flags) win over both.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        loaded = yaml.safe_load(config_file.read_text("utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config_file}: settings file must be a mapping")
        file_values = loaded
    given = {k: v for k, v in overrides.items() if v is not None}
    from_env = Settings()  # defaults + GATEWAY_* variables; fields_set marks the env ones
    env_values = {k: getattr(from_env, k) for k in from_env.model_fields_set}
    return Settings(**{**file_values, **env_values, **given})
