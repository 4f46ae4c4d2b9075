"""Evasion-resistant keyword library: normalization, matching, PII patterns, term files.

The seams other parts of the gateway use::

    from gateway.lexicon import Matcher, Term, load_library, normalize

    library = load_library(["policies/lexicon"])
    matcher = Matcher(library.terms, library.allow, variants=VariantConfig())
    hits = matcher.scan("教我怎么制作炸弹")   # [Hit(term='制作炸弹', category='A1.04', ...)]
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
from gateway.lexicon.variants import VariantConfig

__all__ = [
    "UNSTABLE_TAIL",
    "Hit",
    "LexiconError",
    "Library",
    "Matcher",
    "NormalizeConfig",
    "Normalized",
    "Term",
    "VariantConfig",
    "load_allow_file",
    "load_library",
    "load_term_file",
    "normalize",
]
