"""Evasion-resistant keyword library: normalization, matching, PII patterns, term files.

The seams other parts of the gateway use::

    from gateway.lexicon import Matcher, VariantConfig, find_pii, load_library, normalize

    library = load_library(["policies/lexicon"])
    matcher = Matcher(library.terms, library.allow, variants=VariantConfig())
    norm = normalize(text, matcher.config)           # once, shared by the stages
    hits = matcher.scan_normalized(norm)             # [Hit(term='制作炸弹', category='A1.04', ...)]
    pii = find_pii(text)                             # on the ORIGINAL text

See docs/lexicon.md.
"""

from gateway.lexicon.library import (
    LexiconError,
    Library,
    load_allow_file,
    load_library,
    load_term_file,
)
from gateway.lexicon.matcher import Hit, Matcher, Term
from gateway.lexicon.normalize import UNSTABLE_TAIL, NormalizeConfig, Normalized, normalize
from gateway.lexicon.patterns import ALL_KINDS, PatternHit, find_pii, redact
from gateway.lexicon.variants import VariantConfig

__all__ = [
    "ALL_KINDS",
    "UNSTABLE_TAIL",
    "Hit",
    "LexiconError",
    "Library",
    "Matcher",
    "NormalizeConfig",
    "Normalized",
    "PatternHit",
    "Term",
    "VariantConfig",
    "find_pii",
    "load_allow_file",
    "load_library",
    "load_term_file",
    "normalize",
    "redact",
]
