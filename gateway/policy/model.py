"""The policy file schema: strict pydantic models that compliance staff's YAML must satisfy.

Unknown or misspelled keys are errors (``extra="forbid"``), so a typo never silently turns a
rule off. Categories are taxonomy codes (``gateway/data/taxonomy.json``).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gateway import taxonomy
from gateway.decision import Action


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def pick(self, language: str) -> str:
        return self.en if language == "en" else self.zh


class DirectionRule(Strict):
    """What happens to one category in one direction.

    A keyword hit of level 3 applies ``action``; level 2 applies ``review``; level 1 ``flag``.
    A classifier score at or above ``threshold`` applies ``action``; at or above
    ``review_threshold`` (and below ``threshold``) applies ``review``; at or above
    ``flag_threshold``, ``flag``.
    """

    enabled: bool = True
    action: Action = Action.BLOCK
    threshold: float = Field(0.8, ge=0.0, le=1.0)
    review_threshold: float | None = Field(None, ge=0.0, le=1.0)
    flag_threshold: float | None = Field(None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> DirectionRule:
        # Custom error types, so the console can say these in Chinese (console/problems.py).
        lower = [t for t in (self.flag_threshold, self.review_threshold) if t is not None]
        if any(t > self.threshold for t in lower):
            raise PydanticCustomError(
                "threshold_order",
                "review_threshold and flag_threshold must not exceed threshold",
                {"threshold": self.threshold, "review_threshold": self.review_threshold,
                 "flag_threshold": self.flag_threshold},
            )  # fmt: skip
        if (
            self.flag_threshold is not None
            and self.review_threshold is not None
            and self.flag_threshold > self.review_threshold
        ):
            raise PydanticCustomError(
                "flag_over_review",
                "flag_threshold must not exceed review_threshold",
                {"review_threshold": self.review_threshold, "flag_threshold": self.flag_threshold},
            )
        return self


class CategoryRule(Strict):
    input: DirectionRule | None = None
    output: DirectionRule | None = None
    refusal: Localized | None = None


class NormalizeSpec(Strict):
    nfkc: bool = True
    casefold: bool = True
    fullwidth: bool = True
    traditional_to_simplified: bool = True
    strip_zero_width: bool = True
    strip_separators_between_cjk: bool = True
    strip_marks: bool = True


class VariantSpec(Strict):
    pinyin: bool = True
    homophones: bool = True


class LexiconSpec(Strict):
    files: tuple[str, ...] = ()  # term files (CSV: term,category,level), relative to the policy
    allow_files: tuple[str, ...] = ()  # one term per line that must never fire
    terms: tuple[str, ...] = ()  # inline "term|CODE|level" entries, for small additions
    normalize: NormalizeSpec = NormalizeSpec()
    variants: VariantSpec = VariantSpec()


PiiKind = Literal["cn_id", "cn_mobile", "bank_card", "email"]


class PiiSpec(Strict):
    enabled: bool = True
    kinds: tuple[PiiKind, ...] = ("cn_id", "cn_mobile", "bank_card", "email")
    input_action: Action = Action.REDACT
    output_action: Action = Action.REDACT
    mask: str = "[已脱敏]"


class StreamSpec(Strict):
    # prefix: hold back only the tail that could still grow into a keyword (leak-free, the
    # lowest time-to-first-token); longest_term: always the longest keyword's length minus
    # one (the same guarantee, measured ~460 ms of TTFT at 40 tokens/s).
    holdback: Literal["longest_term", "prefix"] = "prefix"
    check_every_chars: int = Field(24, ge=1, le=4096)
    check_on_punctuation: bool = True
    # Extra characters held back beyond what the longest keyword needs.
    extra_holdback_chars: int = Field(0, ge=0, le=4096)
    # The classifier judges the answer so far, up to this many characters.
    classifier_window_chars: int = Field(256, ge=16, le=8192)
    # ... and not before the answer holds this many Chinese characters (a fragment is no
    # context) ...
    classifier_min_chars: int = Field(40, ge=1, le=4096)
    # ... or this many characters of any kind, until the stream ends: 40 letters are about
    # seven English words, too few to judge ("Things to do before selling your old lap" read
    # as X1 through "old" + "lap"), while 40 Chinese characters are about 25 words; a mixed
    # opening with 13 Chinese characters in 40 read an anti-scam answer as A2.04.
    classifier_min_chars_latin: int = Field(80, ge=1, le=4096)
    # retract: release keyword-checked text, judge it right after, and withdraw it if the
    # classifier blocks; hold: release text only after the classifier passed it.
    classifier_gate: Literal["retract", "hold"] = "retract"


# Routes that carry prompts or generated text: never passed through unmoderated.
TEXT_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/moderations", "/v1/responses",
               "/v1/assistants", "/v1/threads", "/v1/batches", "/v1/files", "/v1/audio",
               "/v1/images", "/v1/realtime", "/v1/fine_tuning", "/v1/uploads",
               "/v1/vector_stores", "/v1/evals", "/v1/containers")  # fmt: skip
_ROUTE_ENTRY = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) /v1(/[A-Za-z0-9_.:-]+)+(/\*)?$")


class RouteSpec(Strict):
    """Which ``/v1`` routes besides the moderated ones reach the upstream."""

    # "METHOD /v1/path"; a final "/*" matches one more path segment. Only routes that carry
    # no prompts and no generated text belong here; every other /v1 route is refused.
    passthrough: tuple[str, ...] = ("GET /v1/models", "GET /v1/models/*", "POST /v1/embeddings")

    @field_validator("passthrough")
    @classmethod
    def _no_text_routes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for entry in v:
            if not _ROUTE_ENTRY.match(entry):
                raise PydanticCustomError(
                    "route_format",
                    "{entry}: expected 'METHOD /v1/path' (GET, POST, PUT, PATCH or DELETE; "
                    "a final '/*' matches one segment)",
                    {"entry": repr(entry)},
                )
            path = entry.split(" ", 1)[1]
            for text_route in TEXT_ROUTES:
                if path == text_route or path.startswith(text_route + "/"):
                    raise PydanticCustomError(
                        "route_carries_text",
                        "{entry} carries prompts or generated text and cannot be passed "
                        "through unmoderated",
                        {"entry": repr(entry)},
                    )
        return v


class ClassifierSpec(Strict):
    """How far the policy trusts the classifier. A model validated on some languages only
    (its model card says which) blocks in those; elsewhere its verdicts are downgraded."""

    # Language codes (zh, en, ja, ko, ru, ar, other) the classifier's blocks apply to;
    # empty: every language. Text without letters (numbers, code) always counts.
    languages: tuple[str, ...] = ()
    elsewhere: Literal["review", "flag", "allow"] = "review"

    @field_validator("languages")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(v) - {"zh", "en", "ja", "ko", "ru", "ar", "other"})
        if unknown:
            raise ValueError(f"unknown language code(s) {', '.join(unknown)} "
                             "(zh, en, ja, ko, ru, ar, other)")  # fmt: skip
        return v


class CascadeBand(Strict):
    """First-stage scores with ``low <= score < high`` are uncertain for a category."""

    low: float = Field(ge=0.0, le=1.0)
    high: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> CascadeBand:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self

    def holds(self, score: float) -> bool:
        return self.low <= score < self.high


class CascadeSpec(Strict):
    """A second, stronger classifier (``GATEWAY_CLASSIFIER_SECOND``, e.g. a guard model on a
    serving engine) for the texts the first one is unsure of. The first stage decides the
    clear cases; a text with a score inside a category's band goes to the second stage,
    whose verdict replaces the first's for the banded categories. A second stage that does
    not answer within ``budget_ms`` counts as an unavailable classifier: ``fail_mode``
    decides. Off unless ``enabled``."""

    enabled: bool = False
    budget_ms: int = Field(300, ge=10, le=30_000)
    directions: tuple[Literal["input", "output"], ...] = ("input", "output")
    bands: dict[str, CascadeBand] = {}  # taxonomy code -> band
    default_band: CascadeBand | None = None  # every code not under `bands`

    @field_validator("bands")
    @classmethod
    def _known_codes(cls, v: dict[str, CascadeBand]) -> dict[str, CascadeBand]:
        unknown = [code for code in v if not taxonomy.is_code(code)]
        if unknown:
            raise ValueError(f"unknown taxonomy code(s): {', '.join(unknown)}")
        return v

    @model_validator(mode="after")
    def _has_bands(self) -> CascadeSpec:
        if self.enabled and not self.bands and self.default_band is None:
            raise ValueError("an enabled cascade needs `bands` or a `default_band`")
        return self

    def band(self, code: str) -> CascadeBand | None:
        return self.bands.get(code, self.default_band)

    def codes(self) -> tuple[str, ...]:
        """The codes whose scores can escalate a text (a code the first stage does not
        score counts as 0.0)."""
        if self.default_band is None:
            return tuple(self.bands)
        return taxonomy.codes()


class ModerationRequestSpec(Strict):
    """What a client may ask of moderation through the request's ``moderation`` field."""

    # "score": report the verdicts without enforcing them. Only for evaluation tenants:
    # a score-mode request reaches the model and the user unblocked (and is still logged).
    allow_score_mode: bool = False


class LimitSpec(Strict):
    """Bounds on what one request may ask the gateway to check. A request over a limit is
    refused with HTTP 413 before any check runs, rather than checked partly."""

    # Characters of text in one request (every message and part together). 200,000 is
    # about a 128k-token context of Chinese; every character up to it is checked.
    max_request_chars: int = Field(200_000, ge=1, le=10_000_000)


class ExplicitLabel(Strict):
    enabled: bool = False
    text: Localized = Localized(zh="本内容由人工智能生成", en="This content is generated by AI.")
    position: Literal["start", "end"] = "end"


class ImplicitLabel(Strict):
    enabled: bool = False
    content_producer: str = "unset"  # provider name or code (GB 45438 Annex E)


class LabelSpec(Strict):
    explicit: ExplicitLabel = ExplicitLabel()
    implicit: ImplicitLabel = ImplicitLabel()


class SanctionWindow(Strict):
    count: int = Field(ge=1)
    seconds: int = Field(ge=1)


class SanctionSpec(Strict):
    """Art. 14(2) measures; TC260-003 §7 g) 1): 3 in a row or 5 in a day -> suspend."""

    enabled: bool = False
    warn_after: SanctionWindow | None = None
    restrict_after: SanctionWindow | None = None
    suspend_after: SanctionWindow | None = SanctionWindow(count=5, seconds=86400)
    consecutive_suspend: int | None = Field(3, ge=1)
    suspend_seconds: int = Field(86400, ge=1)
    message: Localized = Localized(  # told to a suspended user
        zh="您的账号因多次违规已被暂停使用。",
        en="Your account is suspended after repeated violations.",
    )
    restricted_message: Localized = Localized(  # told to a restricted user's refused request
        zh="您的账号因多次违规已被限制使用部分功能，本次请求无法处理。",
        en="Your account is restricted after repeated violations, so this request was refused.",
    )


class AuditSpec(Strict):
    text: Literal["none", "hash", "redacted", "full"] = "hash"
    # false: /v1/moderations keeps no per-text records. For classifier pods serving other
    # gateways, which keep the records of the requests they moderate themselves.
    record_moderations: bool = True
    # Block and review decisions keep at least this much text, so a reviewer can read what
    # they judge (gateway.audit.review_text); "none" adds nothing to ``text``.
    review_text: Literal["full", "redacted", "none"] = "redacted"
    fail_open: bool = False  # keep serving (spooling records) when the log store is down


class RateLimit(Strict):
    count: int = Field(ge=1)
    seconds: int = Field(ge=1, le=86400)


class ReportReason(Strict):
    """One reason a reporter can pick, and the taxonomy codes it stands for."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: Localized
    categories: tuple[str, ...] = ()
    # A shorter answer deadline for urgent reasons; unset: the section's response_hours.
    response_hours: float | None = Field(None, gt=0, le=2160)

    @field_validator("categories")
    @classmethod
    def _known_codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [code for code in v if not taxonomy.is_code(code)]
        if unknown:
            raise PydanticCustomError(
                "unknown_code", "unknown taxonomy code(s): {codes}", {"codes": ", ".join(unknown)}
            )
        return v


@cache
def _report_defaults() -> dict[str, Any]:
    text = resources.files("gateway").joinpath("data/reports.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _default_process() -> Localized:
    return Localized.model_validate(_report_defaults()["process"])


def _default_reasons() -> tuple[ReportReason, ...]:
    return tuple(ReportReason.model_validate(r) for r in _report_defaults()["reasons"])


class ReportsSpec(Strict):
    """Complaints and reports (Interim Measures Art. 15; TC260-003 §7): the published
    handling process and answer deadline, the reasons a reporter picks from, and limits."""

    enabled: bool = True
    # The published response time limit (反馈时限): hours from a report to its answer.
    response_hours: float = Field(72, gt=0, le=2160)
    process: Localized = Field(default_factory=_default_process)
    reasons: tuple[ReportReason, ...] = Field(default_factory=_default_reasons)
    # What a ticket keeps of text the reporter pastes: redacted masks personal data.
    text: Literal["redacted", "full"] = "redacted"
    max_text_chars: int = Field(5000, ge=200, le=20000)
    per_user: RateLimit = RateLimit(count=10, seconds=3600)
    per_source: RateLimit = RateLimit(count=60, seconds=3600)

    @field_validator("reasons")
    @classmethod
    def _reasons_unique_with_other(cls, v: tuple[ReportReason, ...]) -> tuple[ReportReason, ...]:
        codes = [r.code for r in v]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise PydanticCustomError(
                "duplicate_reason", "duplicate reason code(s): {codes}",
                {"codes": ", ".join(duplicates)},
            )  # fmt: skip
        if "other" not in codes:
            raise PydanticCustomError(
                "reason_other_missing", "the reasons must include one with code 'other'"
            )
        return v

    def reason(self, code: str) -> ReportReason | None:
        return next((r for r in self.reasons if r.code == code), None)

    def hours_for(self, code: str) -> float:
        """The answer deadline in hours for a reason code."""
        found = self.reason(code)
        if found is not None and found.response_hours is not None:
            return found.response_hours
        return self.response_hours


class TenantSpec(Strict):
    """A tenant: the gateway API keys that identify it and what it changes in the policy.

    Keys are stored as SHA-256 hex digests (``gateway policy hash-key`` makes one); the
    keys themselves never appear in policy files. ``overrides`` holds any policy keys and
    is merged over the base policy (mappings merge, other values replace).
    """

    api_keys_sha256: tuple[str, ...] = ()
    overrides: dict[str, Any] = {}

    @field_validator("api_keys_sha256")
    @classmethod
    def _hex_digests(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for digest in v:
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise PydanticCustomError(
                    "key_digest", "each entry must be a lowercase SHA-256 hex digest (64 chars)"
                )
        return v

    @field_validator("overrides")
    @classmethod
    def _no_nested_tenants(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "tenants" in v:
            raise PydanticCustomError("nested_tenants", "a tenant cannot define tenants")
        return v


def unknown_codes(codes: Any) -> list[str]:
    return [str(code) for code in codes if not taxonomy.is_code(str(code))]


def unknown_codes_error(unknown: list[str]) -> PydanticCustomError:
    return PydanticCustomError(
        "unknown_code",
        "unknown taxonomy code(s): {codes} (see gateway/data/taxonomy.json, e.g. A1.04)",
        {"codes": ", ".join(unknown)},
    )


class Policy(Strict):
    name: str = "default"
    description: str = ""
    language: Literal["zh", "en"] = "zh"  # refusal language when the request's can't be told
    refusal: Localized = Localized(
        zh="抱歉，您的请求涉及违反相关法律法规的内容，我无法提供帮助。",
        en="Sorry, this request involves prohibited content and I can't help with it.",
    )
    output_refusal: Localized = Localized(
        zh="抱歉，生成的内容不符合安全规范，已停止输出。",
        en="Sorry, the generated content violated the content policy and was stopped.",
    )
    block_response: Literal["completion", "error"] = "completion"
    fail_mode: Literal["open", "closed"] = "closed"  # when the classifier cannot answer
    defaults: CategoryRule = CategoryRule(
        input=DirectionRule(), output=DirectionRule(), refusal=None
    )
    categories: dict[str, CategoryRule] = {}
    lexicon: LexiconSpec = LexiconSpec()
    pii: PiiSpec = PiiSpec()
    stream: StreamSpec = StreamSpec()
    limits: LimitSpec = LimitSpec()
    moderation_requests: ModerationRequestSpec = ModerationRequestSpec()
    classifier: ClassifierSpec = ClassifierSpec()
    cascade: CascadeSpec = CascadeSpec()
    routes: RouteSpec = RouteSpec()
    labels: LabelSpec = LabelSpec()
    sanctions: SanctionSpec = SanctionSpec()
    audit: AuditSpec = AuditSpec()
    reports: ReportsSpec = Field(default_factory=ReportsSpec)
    tenants: dict[str, TenantSpec] = {}

    @field_validator("categories")
    @classmethod
    def _known_codes(cls, v: dict[str, CategoryRule]) -> dict[str, CategoryRule]:
        unknown = unknown_codes(v)
        if unknown:
            raise unknown_codes_error(unknown)
        return v

    def rule(self, code: str, direction: str) -> DirectionRule:
        """The rule for a category and direction, falling back to ``defaults``."""
        specific = self.categories.get(code)
        chosen = getattr(specific, direction) if specific is not None else None
        if chosen is None:
            chosen = getattr(self.defaults, direction)
        return chosen if chosen is not None else DirectionRule()

    def refusal_for(self, code: str | None, direction: str, language: str) -> str:
        specific = self.categories.get(code) if code else None
        if specific is not None and specific.refusal is not None:
            return specific.refusal.pick(language)
        base = self.refusal if direction == "input" else self.output_refusal
        return base.pick(language)
