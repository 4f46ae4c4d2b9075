"""Classifier specs that name a model served elsewhere: ``SCHEME+http(s)://HOST/...?OPTIONS``.

Pure: a string in, a :class:`ServedSpec` out, or ``None`` for a local model directory or hub
id. The query string carries the protocol's options (``?model=...&label_map=...``); the URL
that is called never includes it. A plain ``http(s)://`` URL is another gateway's
``/v1/moderations`` (the original remote classifier).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

# Spec scheme -> backend (the metric label). vLLM and SGLang serve guard models through
# their OpenAI-compatible chat API, so `vllm+` and `sglang+` are that backend;
# `vllm-classify+` is vLLM's /classify endpoint for sequence classifiers.
SCHEMES: dict[str, str] = {
    "openai-guard": "openai_guard",
    "vllm": "openai_guard",
    "sglang": "openai_guard",
    "tei": "tei",
    "vllm-classify": "vllm_classify",
    "kserve": "kserve",
    "triton": "kserve",
}

_COMMON = frozenset({"max_batch", "max_inflight", "max_queue", "max_wait_us", "window_chars",
                     "window_overlap", "label_map"})  # fmt: skip
_ENCODER = frozenset({"scores", "normalize", "markers"})
# The query options each backend understands; anything else is an error that names it.
OPTIONS: dict[str, frozenset[str]] = {
    "gateway": frozenset({"max_batch", "max_inflight", "max_queue", "max_wait_us"}),
    "openai_guard": _COMMON
    | {"model", "format", "max_tokens", "controversial_score", "output_role"},
    "tei": _COMMON | _ENCODER,
    "vllm_classify": _COMMON | _ENCODER | {"model", "labels"},
    "kserve": _COMMON | _ENCODER | {"labels", "input", "output"},
}


class SpecError(ValueError):
    """A classifier spec that names a served model but cannot be used as written."""


@dataclass(frozen=True, slots=True)
class ServedSpec:
    backend: str  # a key of OPTIONS
    url: str  # without the query string
    options: dict[str, str]

    def display(self) -> str:
        """The URL without credentials, for /readyz and logs."""
        return without_credentials(self.url)


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def parse_spec(spec: str) -> ServedSpec | None:
    """The served model ``spec`` names, or None when it names a local model."""
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        scheme, url = "", spec
    elif "+http://" in spec or "+https://" in spec:
        scheme, _, url = spec.partition("+")
    else:
        return None
    backend = SCHEMES.get(scheme) if scheme else "gateway"
    if backend is None:
        known = ", ".join(f"{s}+http://" for s in SCHEMES)
        raise SpecError(f"classifier {spec!r}: unknown scheme {scheme!r} (known: {known})")
    parts = urlsplit(url)
    if not parts.hostname:
        raise SpecError(f"classifier {spec!r}: no host in {url!r}")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in options:
            raise SpecError(f"classifier {spec!r}: option {key!r} given twice")
        options[key] = value
    unknown = sorted(set(options) - OPTIONS[backend])
    if unknown:
        allowed = ", ".join(sorted(OPTIONS[backend]))
        raise SpecError(
            f"classifier {spec!r}: unknown option(s) {', '.join(unknown)} for {backend} "
            f"(known: {allowed})"
        )
    return ServedSpec(backend, urlunsplit(parts._replace(query="", fragment="")), options)
