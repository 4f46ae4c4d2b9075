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

    # --- shared state and the decision log
    redis_url: str | None = None  # e.g. redis://127.0.0.1:6379/0; unset = single process
    redis_prefix: str = Field("gw", pattern=r"^[A-Za-z0-9_.-]{1,32}$")  # one per deployment
    audit_url: str = "sqlite:///var/gateway/audit.db"
    audit_spool_dir: Path = Path("var/gateway/spool")
    audit_retention_days: int = Field(180, ge=1)
    # Keys the hashes of end-user ids and of kept texts; >= 32 characters, stable over time.
    pseudonym_key: SecretStr | None = None
    console_db: Path = Path("var/gateway/console.db")  # console accounts, drafts, versions

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
