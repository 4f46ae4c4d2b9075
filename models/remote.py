"""A classifier served by another gateway, over HTTP: ``POST /v1/moderations``.

Lets CPU proxy pods and GPU inference pods scale apart. The wire shape is OpenAI's
moderation API keyed by taxonomy codes (``models.serving.moderations``); batching,
timeouts, the connection pool, health and metrics are those of every served classifier
(``models.serving``). No torch here.
"""

from __future__ import annotations

from typing import Any

from models.serving.classifier import ServedClassifier
from models.serving.moderations import ModerationsBackend
from models.serving.spec import without_credentials
from models.serving.transport import Transport


class RemoteClassifier(ServedClassifier):
    """Implements ``Classifier`` by calling a remote gateway's ``/v1/moderations``."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 2.0,
        total_timeout_s: float = 10.0,
        max_connections: int = 64,
        max_batch: int = 256,
        max_inflight: int = 8,
        transport: Transport | None = None,
        **options: Any,
    ) -> None:
        backend = ModerationsBackend(url, max_batch=max_batch)
        self.url = backend.url
        options.setdefault("path", without_credentials(backend.url))
        options.setdefault("timeout_s", total_timeout_s)
        super().__init__(
            backend,
            transport
            or Transport(
                api_key=api_key,
                connect_timeout_s=connect_timeout_s,
                total_timeout_s=total_timeout_s,
                max_connections=max_connections,
            ),
            max_inflight=max_inflight,
            **options,
        )
