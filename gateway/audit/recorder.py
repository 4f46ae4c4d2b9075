"""``AuditRecorder``: the ``Recorder`` seam (``gateway.audit.recording``) on the decision log.

It turns one final decision plus its ``RequestInfo`` into a ``DecisionRecord`` (pseudonym,
text kept per the policy's ``audit.text``) and returns once the writer has made it durable.
A record that cannot be made durable becomes ``DecisionLogUnavailable`` (503) for the
request, never a silent loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.audit.errors import AuditUnavailable
from gateway.audit.keys import TEXT_LABEL, derive
from gateway.audit.record import DecisionRecord, Stage, TextRetention
from gateway.audit.recording import Ending, RequestInfo
from gateway.audit.review_text import text_mode_for
from gateway.audit.writer import AuditWriter
from gateway.decision import Decision, Direction
from gateway.errors import DecisionLogUnavailable

TextMode = TextRetention | str | Callable[[RequestInfo], TextRetention | str]
ReviewText = Callable[[RequestInfo], str]  # audit.review_text of the request's policy


class AuditRecorder:
    """Implements ``gateway.audit.recording.Recorder``.

    ``text_mode`` is a fixed mode or a function of the request (so a per-tenant policy
    can choose); ``pseudonym_key`` is ``Settings.pseudonym_secret()``, from which the key of
    kept text hashes is derived (``AuditKeys.text``); ``review_text`` keeps more text for
    block and review decisions (``gateway.audit.review_text``)."""

    def __init__(
        self, writer: AuditWriter, *, pseudonym_key: str | bytes, text_mode: TextMode,
        review_text: ReviewText | None = None,
    ) -> None:  # fmt: skip
        self.writer = writer
        self._key = pseudonym_key
        self._text_key = derive(pseudonym_key, TEXT_LABEL)
        self._text_mode = text_mode
        self._review_text = review_text

    def _mode(self, info: RequestInfo, decision: Decision) -> TextRetention:
        mode = self._text_mode(info) if callable(self._text_mode) else self._text_mode
        if self._review_text is None:
            return TextRetention(mode)
        return text_mode_for(decision, TextRetention(mode), self._review_text(info))

    def build(
        self,
        decision: Decision,
        info: RequestInfo,
        texts: Sequence[str],
        *,
        incident: bool = False,
        ending: Ending = Ending.NONE,
    ) -> DecisionRecord:
        if incident:
            stage = Stage.STREAM
        else:
            stage = Stage.REQUEST if decision.direction is Direction.INPUT else Stage.RESPONSE
        return DecisionRecord.from_decision(
            decision,
            text="\n".join(texts) if texts else None,
            text_mode=self._mode(info, decision),
            pseudonym_key=self._key,
            user_id=info.user,
            tenant=info.tenant,
            request_id=info.request_id,
            route=info.route,
            stage=stage,
            model_version=info.model,
            latency_ms=info.timings_ms,
            incident=incident,
            ending=ending,
            text_key=self._text_key,
        )

    async def record(
        self,
        decision: Decision,
        info: RequestInfo,
        texts: Sequence[str],
        *,
        incident: bool = False,
        ending: Ending = Ending.NONE,
    ) -> None:
        """Return once the record is durable; raises ``DecisionLogUnavailable`` otherwise."""
        try:
            record = self.build(decision, info, texts, incident=incident, ending=ending)
            await self.writer.write(record)
        except AuditUnavailable as e:
            raise DecisionLogUnavailable(
                "The decision log is unavailable, so the request cannot be completed."
            ) from e
