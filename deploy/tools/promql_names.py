"""Pull the metric names out of a PromQL expression, and make Grafana queries parseable.

Not a PromQL parser (promtool is the parser; ``deploy/check.sh`` runs it on every dashboard
query). This is a tokenizer that knows enough to tell a metric name from a function, a
keyword, a label name in ``by (...)`` or a label matcher, so that the dashboard check can say
"this panel uses a metric gateway/metrics.py does not define".
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
    (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
   |(?P<num>(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)(?:[a-zA-Z]+\d*)*)
   |(?P<var>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*)
   |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
   |(?P<open>[{\[(])
   |(?P<close>[}\])])
   |(?P<ws>\s+)
   |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

# Words followed by a parenthesised list of label names, not of expressions.
_LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan"})
_PAIRS = {"{": "}", "[": "]", "(": ")"}


def metric_names(expr: str) -> set[str]:
    """Every metric name an expression selects (functions, keywords and labels excluded)."""
    tokens = [(m.lastgroup or "", m.group()) for m in _TOKEN.finditer(expr)]
    tokens = [t for t in tokens if t[0] != "ws"]
    names: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "open" and text in "{[":
            i = _skip_group(tokens, i)  # label matchers and range/subquery selectors
            continue
        if kind == "ident":
            word = text.lower()
            if word in _LABEL_LIST_KEYWORDS:
                i = _skip_group(tokens, i + 1) if nxt == "(" else i + 1
                continue
            # ``sum by (x) (...)`` names its grouping before its argument.
            is_call = nxt == "(" or nxt.lower() in ("by", "without")
            if word not in _KEYWORDS and not is_call:
                names.add(text)
        i += 1
    return names


def _skip_group(tokens: list[tuple[str, str]], start: int) -> int:
    """Index just past the bracket group that opens at ``start``."""
    opener = tokens[start][1]
    closer, depth = _PAIRS[opener], 0
    for j in range(start, len(tokens)):
        if tokens[j][1] == opener:
            depth += 1
        elif tokens[j][1] == closer:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError(f"unbalanced {opener!r} in PromQL expression")


# Grafana's built-in interval variables, replaced by plausible values so promtool can parse.
_GRAFANA_BUILTINS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def substitute_grafana_variables(expr: str) -> str:
    """Replace ``$__rate_interval`` and friends by durations, other variables by ``.*``.

    Dashboard variables only appear inside label matchers (``instance=~"$instance"``), where
    ``.*`` keeps the expression valid.
    """

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return _GRAFANA_BUILTINS.get(name, ".*")

    return _VAR.sub(value, expr)
