"""The real gateway app (``gateway.app.create_app``) with the decision log on its
``Recorder`` seam, as a process the crash test can SIGKILL:
``uvicorn --factory tests.support.audit_gateway_app:build``. Settings come from ``GATEWAY_*``
(upstream URL, audit URL, spool directory), as for ``gateway serve``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.audit import AuditStore, AuditWriter, open_store
from gateway.audit.keys import AuditKeys
from gateway.audit.recorder import AuditRecorder
from gateway.audit.recording import Ending, RequestInfo
from gateway.decision import Decision
from gateway.settings import Settings, load_settings
from tests.support.audit_server import SlowDisk


class StartOnFirstUse:
    """An ``AuditRecorder`` whose writer starts inside the server's event loop, on the
    first decision (``create_app`` takes a recorder before any loop runs)."""

    def __init__(self, store: AuditStore, settings: Settings, fail_open: bool) -> None:
        self._store, self._settings, self._fail_open = store, settings, fail_open
        self._inner: AuditRecorder | None = None
        self._lock = asyncio.Lock()

    async def _recorder(self) -> AuditRecorder:
        async with self._lock:
            if self._inner is None:
                key = self._settings.pseudonym_secret()
                writer = AuditWriter(
                    self._store, keys=AuditKeys.from_secret(key),
                    spool_dir=self._settings.audit_spool_dir,
                    checkpoint_dir=self._settings.audit_checkpoint_dir,
                    checkpoint_interval=self._settings.audit_checkpoint_interval,
                    fail_open=self._fail_open, retry_interval=0.2,
                )  # fmt: skip
                await writer.start()
                self._inner = AuditRecorder(writer, pseudonym_key=key, text_mode="hash")
            return self._inner

    async def record(
        self,
        decision: Decision,
        info: RequestInfo,
        texts: Sequence[str],
        *,
        incident: bool = False,
        ending: Ending = Ending.NONE,
    ) -> None:
        recorder = self._inner or await self._recorder()
        await recorder.record(decision, info, texts, incident=incident, ending=ending)


def build() -> Starlette:
    settings = load_settings()
    store: AuditStore = open_store(settings.audit_url)
    delay_ms = float(os.environ.get("AUDIT_SLOW_COMMIT_MS", "0"))
    if delay_ms:
        store = SlowDisk(store, delay_ms / 1000)
    fail_open = os.environ.get("AUDIT_FAIL_OPEN", "1") == "1"
    return create_app(settings, recorder=StartOnFirstUse(store, settings, fail_open))
