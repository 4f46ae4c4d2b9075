"""The complaint queue's operations: file a report, let the reporter look it up, and the
staff actions (assign, answer, close with an outcome), with the metrics kept current.

Filing looks the reported decision up in the decision log, only within the reporter's
tenant, so a key of one tenant can neither attach to nor learn about another's decisions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.audit.record import DecisionRecord, keep_text, pseudonymize
from gateway.errors import InvalidRequest, NotFound, RateLimited
from gateway.metrics import Metrics
from gateway.policy.compiled import PolicySet
from gateway.policy.model import RateLimit, ReportsSpec
from gateway.reports.incidents import IncidentFields
from gateway.reports.model import Incident, Outcome, Status, Submission, Ticket
from gateway.reports.ratelimit import RateLimiter
from gateway.reports.store import TicketStore
from gateway.reports.validation import DecisionNotFound, ReportInput

log = logging.getLogger("gateway.reports")
KEPT_TEXT = ("redacted", "full")  # decision-log text modes that keep readable text
MAX_ANSWER_CHARS = 4000


class TicketError(Exception):
    """A staff action the ticket's state does not allow; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Filed:
    ticket: Ticket
    token: str  # the reporter's lookup token; only its hash is stored
    merged: bool


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _text_key(text: str) -> str:
    # Repeated pastes of the same text merge even with different spacing.
    collapsed = re.sub(r"\s+", " ", text).strip()
    return "text:" + hashlib.sha256(collapsed.encode()).hexdigest()[:32]


def _kept(r: DecisionRecord) -> str | None:
    return r.text if r.text_mode in KEPT_TEXT and r.text else None


class Reports:
    def __init__(
        self,
        store: TicketStore,
        *,
        policies: Callable[[], PolicySet],
        limiter: RateLimiter,
        metrics: Metrics,
        pseudonym_key: str,
        audit_store: Any | None = None,  # gateway.audit.store.AuditStore when the log is on
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._policies = policies
        self._limiter = limiter
        self._metrics = metrics
        self._key = pseudonym_key
        self.audit_store = audit_store
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def spec(self, tenant: str) -> ReportsSpec:
        return self._policies().for_tenant(tenant).policy.reports

    def policy_version(self) -> str:
        return self._policies().version

    def known_tenant(self, name: str) -> bool:
        return name in self._policies().tenants

    # --- limits
    async def limit(self, spec: ReportsSpec, source: str, user: str = "", tenant: str = "") -> None:
        """Count one attempt per source address and, when known, per end user; raise
        ``RateLimited`` (with the seconds to wait) past either limit."""
        waits = [await self._limiter.hit("source", source, spec.per_source)]
        if user:
            waits.append(await self._limiter.hit("user", f"{tenant}\0{user}", spec.per_user))
        refused = [w for w in waits if w is not None]
        if refused:
            raise RateLimited("Too many reports; try again later.", retry_after=max(refused))

    async def limit_views(self, source: str) -> float | None:
        """The public pages' own, looser limit per source (lookups, the form, the process)."""
        per_source = self._policies().base.policy.reports.per_source
        window = RateLimit(count=per_source.count * 10, seconds=per_source.seconds)
        return await self._limiter.hit("view", source, window)

    # --- filing
    async def _records(self, decision_id: str, tenant: str | None) -> list[DecisionRecord]:
        """The decision's input and output records, within ``tenant`` when given."""
        if self.audit_store is None:
            return []
        base = decision_id.removesuffix("-out")
        found = [await self.audit_store.get(rid) for rid in (base, base + "-out")]
        return [r for r in found if r is not None and (tenant is None or r.tenant == tenant)]

    async def _reported(self, report: ReportInput, tenant: str | None) -> list[DecisionRecord]:
        """The reported decision's records; a 400 naming ``decision_id`` when it is given
        but cannot be found (or looked up at all, and no text stands in for it)."""
        if not report.decision_id:
            return []
        if self.audit_store is None:
            if report.text:
                return []  # the id is kept as given, unverified
            raise DecisionNotFound(
                "This gateway keeps no decision log, so decision ids cannot be looked up; "
                "paste the reported text as 'text'.",
                param="decision_id",
            )
        records = await self._records(report.decision_id, tenant)
        if not records:
            raise DecisionNotFound(
                f"No decision {report.decision_id!r} is known here; check the id, or "
                "paste the reported text as 'text' instead.",
                param="decision_id",
            )
        return records

    async def file(
        self, tenant: str | None, report: ReportInput, *, source: str, default_tenant: str
    ) -> Filed:
        """File a report. ``tenant`` None (the public page) takes the tenant from the
        reported decision, else ``default_tenant``."""
        records = await self._reported(report, tenant)
        owner = records[0].tenant if records else (tenant or default_tenant)
        spec = self.spec(owner)
        if not spec.enabled:  # the decision's tenant has switched complaints off
            raise NotFound("Complaints and reports are not enabled for this service.")
        reason = spec.reason(report.reason)
        if reason is None:  # the tenant's own list differs from the one the form showed
            raise InvalidRequest(f"'reason' {report.reason!r} is not offered here.", param="reason")
        now = self.now()
        text, text_source = reported_text(report, records, spec)
        acted = records[-1] if records else None
        base_id = report.decision_id.removesuffix("-out")
        due = now + spec.hours_for(reason.code) * 3600
        ticket = Ticket(
            id="rpt_" + secrets.token_hex(12), tenant=owner,
            merge_key=base_id or _text_key(report.text), decision_id=base_id,
            record_ids=tuple(r.id for r in records), text=text, text_source=text_source,
            reason=reason.code, categories=reason.categories,
            policy_version=acted.policy_version if acted else self.policy_version(),
            decision_action=acted.action if acted else "", status=Status.OPEN.value,
            created=now, due=due, updated=now,
        )  # fmt: skip
        submission = Submission(
            id="sub_" + secrets.token_hex(12), ticket_id="", ts=now, reason=reason.code,
            detail=report.detail, contact=report.contact,
            reporter=pseudonymize(report.user, self._key) if report.user else None,
            source=source, lang=report.lang,
        )  # fmt: skip

        def merge(old: Ticket) -> Ticket:
            # A more urgent reason tightens the deadline of a ticket not yet answered.
            sooner = old.due if old.answered_at is not None else min(old.due, due)
            categories = tuple(dict.fromkeys((*old.categories, *reason.categories)))
            return dataclasses.replace(old, reports=old.reports + 1, due=sooner,
                                       categories=categories, updated=now)  # fmt: skip

        token = secrets.token_urlsafe(18)
        filed, merged = await self.store.file(ticket, submission, token_hash(token), merge)
        self._metrics.reports_received.labels(source=source).inc()
        await self.refresh_metrics()
        return Filed(filed, token, merged)

    async def lookup(self, ticket_id: str, token: str, tenant: str | None = None) -> Ticket | None:
        """The ticket for a reporter holding its id and one of its tokens (and, from the
        API, the same tenant); None otherwise, without saying which part was wrong."""
        if not ticket_id or not token:
            return None
        found = await self.store.by_token(ticket_id, token_hash(token))
        if found is None or (tenant is not None and found.tenant != tenant):
            return None
        return found

    # --- staff actions
    def _event(self, actor: str, action: str, detail: str = "") -> dict[str, Any]:
        return {"ts": self.now(), "by": actor, "action": action, "detail": detail}

    async def _change(self, ticket_id: str, change: Callable[[Ticket], Ticket]) -> Ticket:
        ticket = await self.store.modify(ticket_id, change)
        if ticket is None:
            raise TicketError(404, "no such ticket")
        await self.refresh_metrics()
        return ticket

    async def assign(self, ticket_id: str, actor: str, assignee: str) -> Ticket:
        def change(t: Ticket) -> Ticket:
            if t.status == Status.CLOSED:
                raise TicketError(409, "the ticket is closed")
            event = self._event(actor, "assign", assignee)
            return dataclasses.replace(t, assignee=assignee, updated=event["ts"],
                                       history=(*t.history, event))  # fmt: skip

        return await self._change(ticket_id, change)

    async def answer(self, ticket_id: str, actor: str, text: str) -> Ticket:
        """Send (or correct) the answer the reporter sees; the first one stops the clock."""
        text = _answer_text(text)

        def change(t: Ticket) -> Ticket:
            if t.status == Status.CLOSED:
                raise TicketError(409, "the ticket is closed")
            event = self._event(actor, "answer", text)
            return dataclasses.replace(
                t, status=Status.ANSWERED.value, answer=text, updated=event["ts"],
                answered_at=t.answered_at if t.answered_at is not None else event["ts"],
                assignee=t.assignee or actor, history=(*t.history, event),
            )  # fmt: skip

        return await self._change(ticket_id, change)

    async def close(self, ticket_id: str, actor: str, outcome: str, answer: str = "",
                    note: str = "") -> Ticket:  # fmt: skip
        """Record the outcome; a ticket closed without an earlier answer needs one now."""
        try:
            result = Outcome(outcome)
        except ValueError:
            raise TicketError(400, f"unknown outcome {outcome!r}") from None
        answer = answer.strip()

        def change(t: Ticket) -> Ticket:
            if t.status == Status.CLOSED:
                raise TicketError(409, "the ticket is already closed")
            text = _answer_text(answer) if answer else t.answer
            if not text:
                raise TicketError(400, "closing needs an answer for the reporter")
            event = self._event(actor, "close", f"{result.value}: {note}".rstrip(": "))
            return dataclasses.replace(
                t, status=Status.CLOSED.value, outcome=result.value, answer=text,
                answered_at=t.answered_at if t.answered_at is not None else event["ts"],
                closed_at=event["ts"], updated=event["ts"], assignee=t.assignee or actor,
                history=(*t.history, event),
            )  # fmt: skip

        return await self._change(ticket_id, change)

    # --- incident records
    async def create_incident(self, actor: str, f: IncidentFields) -> Incident:
        now = self.now()
        incident = Incident(
            id="inc_" + secrets.token_hex(8), created=now, created_by=actor, updated=now,
            history=(self._event(actor, "create"),), **_incident_values(f),
        )  # fmt: skip
        await self.store.add_incident(incident)
        return incident

    async def update_incident(self, incident_id: str, actor: str, f: IncidentFields) -> Incident:
        def change(i: Incident) -> Incident:
            event = self._event(actor, "update")
            return dataclasses.replace(i, **_incident_values(f), updated=event["ts"],
                                       history=(*i.history, event))  # fmt: skip

        found = await self.store.modify_incident(incident_id, change)
        if found is None:
            raise TicketError(404, "no such incident record")
        return found

    # --- metrics
    async def refresh_metrics(self) -> None:
        """Set the open and overdue gauges from the store (on every scrape and change)."""
        try:
            open_, overdue = await self.store.counts(self.now())
        except Exception as e:  # the store is down: keep the last values, keep serving
            log.warning("could not count complaint tickets: %s", e)
            return
        self._metrics.reports_open.set(open_)
        self._metrics.reports_overdue.set(overdue)

    async def aclose(self) -> None:
        await self.store.close()


def reported_text(
    report: ReportInput, records: list[DecisionRecord], spec: ReportsSpec
) -> tuple[str | None, str]:
    """What the ticket shows as reported, and where it came from: the reporter's paste
    (kept as the policy says), else the text the decision log kept, the answer first."""
    if report.text:
        return keep_text(report.text, spec.text, max_chars=spec.max_text_chars), "pasted"
    kept = next((t for r in reversed(records) if (t := _kept(r))), None)
    return kept, "decision" if kept else "none"


def _incident_values(f: IncidentFields) -> dict[str, Any]:
    return {name: getattr(f, name) for name in IncidentFields.__dataclass_fields__}


def _answer_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise TicketError(400, "the answer is empty")
    if len(text) > MAX_ANSWER_CHARS:
        raise TicketError(400, f"the answer is longer than {MAX_ANSWER_CHARS} characters")
    return text
