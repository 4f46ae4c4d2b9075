"""The decision log as a service of the running gateway: built from settings, opened and
closed by the lifespan.

The store, its writer and the recorder are built from settings; the policy chooses what
the log keeps of each text (``audit.text``) and whether requests keep flowing while the
store is down (``audit.fail_open``). A record that cannot be made durable turns into a
503 for the request, never a silent loss (Cybersecurity Law Art. 21; Interim Measures
Art. 14).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.routing import BaseRoute

from gateway.audit.backends import open_store
from gateway.audit.checkpoint import CheckpointReader
from gateway.audit.keys import AuditKeys
from gateway.audit.recorder import AuditRecorder
from gateway.audit.recording import Recorder
from gateway.audit.routes import admin_routes
from gateway.audit.store import AuditStore
from gateway.audit.writer import AuditWriter
from gateway.metrics import Metrics
from gateway.policy.holder import PolicyHolder
from gateway.settings import Settings


def log_enabled(settings: Settings) -> bool:
    return settings.audit_url.strip().lower() != "none"


def open_log_store(settings: Settings) -> AuditStore | None:
    """The store (opened lazily, no I/O here), or None when the log is switched off."""
    return open_store(settings.audit_url) if log_enabled(settings) else None


def log_routes(store: AuditStore | None, settings: Settings) -> list[BaseRoute]:
    if store is None:
        return []
    keys = AuditKeys.from_secret(settings.pseudonym_secret())
    reader = CheckpointReader(settings.audit_checkpoint_dir, keys)
    return list(admin_routes(store, settings.admin_token, reader))


@dataclass(slots=True)
class DecisionLog:
    writer: AuditWriter
    recorder: AuditRecorder

    async def aclose(self) -> None:
        await self.writer.close()  # flushes what is queued


async def start_log(
    store: AuditStore, settings: Settings, metrics: Metrics, policies: PolicyHolder
) -> DecisionLog:
    secret = settings.pseudonym_secret()
    writer = AuditWriter(
        store,
        keys=AuditKeys.from_secret(secret),
        spool_dir=settings.audit_spool_dir,
        checkpoint_dir=settings.audit_checkpoint_dir,
        checkpoint_interval=settings.audit_checkpoint_interval,
        metrics=metrics,
        fail_open=lambda: policies.current.base.policy.audit.fail_open,
    )
    await writer.start()
    recorder = AuditRecorder(
        writer,
        pseudonym_key=secret,
        text_mode=lambda info: policies.current.for_tenant(info.tenant).policy.audit.text,
        review_text=lambda info: policies.current.for_tenant(info.tenant).policy.audit.review_text,
    )
    return DecisionLog(writer, recorder)


def as_recorder(log: DecisionLog | None, fallback: Recorder) -> Recorder:
    return log.recorder if log is not None else fallback


__all__ = ["DecisionLog", "as_recorder", "log_routes", "open_log_store", "start_log"]
