"""Format-preserving edits of a YAML document: make the value at a key path equal a new
value while touching only the text that has to change.

Compliance staff write policy files by hand, with comments and their own layout, and an
approver reads the change as a diff: an edit of one threshold must change that number and
nothing else. So an edit walks the document's node tree (with its character positions),
recurses into mappings and equal-length lists, and rewrites only the scalars that differ;
keys are inserted after their siblings in the style of their mapping (flow ``{a: 1}`` or
block lines) and deleted with their separator or lines.

Every edit is proved by parsing the result and comparing it with the intended data; a
layout this module does not handle raises ``EditFailed``, and the caller rewrites the whole
file instead (losing its comments, which the diff then shows).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str, ...]
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster
_WIDE = 1 << 30  # never fold long lines
_INVALID = object()


class EditFailed(Exception):
    """The edit could not be made in place; rewrite the whole document instead."""


def load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)


def _plain_tree(text: str) -> None:
    """Anchors and aliases make one node appear in several places: editing it in place
    would edit them all. Such documents are rewritten whole instead."""
    if any(isinstance(e, (yaml.AliasEvent,)) for e in yaml.parse(text, Loader=_LOADER)):
        raise EditFailed("the document uses aliases")


def assign(text: str, path: Sequence[str], value: Any) -> str:
    """``text`` where the value at ``path`` equals ``value`` (created when missing)."""
    path = tuple(path)
    _plain_tree(text)
    expected = _with(load(text), path, value)
    new = _assign(text, path, value)
    if _parsed(new) != expected:
        raise EditFailed(f"in-place edit of {'.'.join(path)} did not round-trip")
    return new


def delete(text: str, path: Sequence[str]) -> str:
    """``text`` without the key at ``path`` (unchanged when it is not there)."""
    path = tuple(path)
    _plain_tree(text)
    data = load(text)
    expected = _without(data, path)
    if expected == data:
        return text
    new = _delete(text, path)
    if _parsed(new) != expected:
        raise EditFailed(f"in-place removal of {'.'.join(path)} did not round-trip")
    return new


def _parsed(text: str) -> Any:
    try:
        return load(text)
    except yaml.YAMLError:
        return _INVALID


# --- the data side: what the document must parse to afterwards


def _with(data: Any, path: Path, value: Any) -> Any:
    out = copy.deepcopy(data) if isinstance(data, dict) else {}
    node = out
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = copy.deepcopy(value)
    return out


def _without(data: Any, path: Path) -> Any:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return out
    if isinstance(node, dict):
        node.pop(path[-1], None)
    return out


# --- rendering


def flow(value: Any) -> str:
    """``value`` in YAML flow style on one line."""
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        quoted: str = yaml.safe_dump(value, default_style='"', allow_unicode=True, width=_WIDE)
        return quoted.strip()
    dumped: str = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True,
                                 sort_keys=False, width=_WIDE)  # fmt: skip
    return dumped.strip()[1:-1]


def _plain(value: Any) -> str:
    """A scalar in block context, where ``Sorry, no.`` needs no quotes (flow would)."""
    if isinstance(value, str) and "\n" not in value and "\r" not in value:
        dumped: str = yaml.safe_dump(value, allow_unicode=True, width=_WIDE)
        return dumped.removesuffix("\n...\n").removesuffix("\n").strip()
    return flow(value)


def _literal(value: str, indent: int) -> str | None:
    """A multi-line string as a ``|`` block scalar; None where one cannot say it exactly."""
    if (
        "\r" in value
        or value.startswith((" ", "\n"))
        or any(line != line.rstrip() for line in value.split("\n"))
    ):
        return None
    body = value.rstrip("\n")
    chomp = "-" if not value.endswith("\n") else ("" if value.endswith("\n") and not
                                                  value.endswith("\n\n") else "+")  # fmt: skip
    lines = [(" " * indent + ln) if ln else "" for ln in body.split("\n")]
    tail = value[len(body) :]
    return "|" + chomp + "\n" + "\n".join(lines) + ("\n" * max(len(tail) - 1, 0) if chomp == "+"
                                                    else "")  # fmt: skip


def _flat(value: Any) -> bool:
    if isinstance(value, dict):
        return all(not isinstance(v, (dict, list)) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, (dict, list)) for v in value)
    return True


def block(key: str, value: Any, indent: int) -> list[str]:
    """``key: value`` as block lines at ``indent``; leaf collections stay in flow style,
    the way the shipped policy writes one rule per line."""
    pad = " " * indent
    if isinstance(value, dict) and value and not _flat(value):
        return [
            f"{pad}{flow(key)}:",
            *(ln for k, v in value.items() for ln in block(k, v, indent + 2)),
        ]
    if isinstance(value, list) and value and not _flat(value):
        return [f"{pad}{flow(key)}:", *(f"{pad}  - {flow(v)}" for v in value)]
    if isinstance(value, str) and "\n" in value:
        literal = _literal(value, indent + 2)
        if literal is not None:
            return f"{pad}{flow(key)}: {literal}".split("\n")
    return [
        f"{pad}{flow(key)}: {_plain(value) if not isinstance(value, (dict, list)) else flow(value)}"
    ]


# --- the text side


@dataclass(slots=True)
class _At:
    """A value node with what an edit needs to know about its place."""

    node: yaml.Node
    key: yaml.Node | None  # the key it belongs to (None for the document root)
    in_flow: bool  # inside a flow collection: values must be written in flow style


def _compose(text: str) -> yaml.Node | None:
    node: yaml.Node | None = yaml.compose(text, Loader=_LOADER)
    return node


def _pair(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _is_block(node: yaml.Node) -> bool:
    return isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style


def _content_end(node: yaml.Node) -> int:
    """Where the node's own text ends: a block collection's end mark runs on over the
    comments and blank lines after it, which belong to whatever follows."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        k, v = node.value[-1]
        return max(_content_end(k), _content_end(v))
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1])
    end: int = node.end_mark.index
    return end


def _empty_scalar(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.start_mark.index == node.end_mark.index


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def _find(text: str, path: Path) -> tuple[_At | None, _At, int]:
    """The deepest node on ``path``: (its value node if the whole path exists, the deepest
    existing ancestor, how many path keys that ancestor consumed)."""
    root = _compose(text)
    if root is None:
        raise EditFailed("empty document")
    at = _At(root, None, False)
    for i, key in enumerate(path):
        if not isinstance(at.node, yaml.MappingNode):
            return None, at, i
        found = _pair(at.node, key)
        if found is None:
            return None, at, i
        at = _At(found[1], found[0], bool(at.node.flow_style) or at.in_flow)
    return at, at, len(path)


def _assign(text: str, path: Path, value: Any) -> str:
    if load(text) is None:
        lines = block(path[0], _nest(path[1:], value), 0)
        return text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(lines) + "\n"
    found, deepest, used = _find(text, path)
    if found is None:
        rest = _nest(path[used + 1 :], value)
        if isinstance(deepest.node, yaml.MappingNode):
            return _insert(text, deepest, path[used], rest)
        return _replace(text, deepest, _nest(path[used:], value))
    return _set(text, path, found, value)


def _nest(path: Path, value: Any) -> Any:
    for key in reversed(path):
        value = {key: value}
    return value


def _set(text: str, path: Path, at: _At, value: Any) -> str:
    """Make the node at ``path`` equal ``value``, child by child where the shapes match, so
    untouched children keep their text."""
    node = at.node
    if isinstance(value, dict) and value and isinstance(node, yaml.MappingNode) and node.value:
        current = load(text)
        for key in path:
            current = current[key]
        for k, v in value.items():
            if k not in current or current[k] != v:
                text = _assign(text, (*path, k), v)
        for k in [k for k in current if k not in value]:
            text = _delete(text, (*path, k))
        return text
    if (isinstance(value, list) and isinstance(node, yaml.SequenceNode)
            and len(value) == len(node.value) and value):  # fmt: skip
        in_flow = at.in_flow or bool(node.flow_style)
        for i in reversed(range(len(value))):  # from the end: earlier positions stay valid
            item = node.value[i]
            if isinstance(item, (yaml.MappingNode, yaml.SequenceNode)):
                raise EditFailed("collections inside lists are not edited in place")
            if yaml.load(yaml.serialize(item), Loader=_LOADER) != value[i]:
                text = _replace(text, _At(item, None, in_flow), value[i])
        return text
    return _replace(text, at, value)


def _replace(text: str, at: _At, value: Any) -> str:
    """Replace a node's text with ``value``."""
    node = at.node
    start, end = node.start_mark.index, _content_end(node)
    block_scalar = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    if at.in_flow:
        if block_scalar:
            return _splice(text, start, end, flow(value) + "\n")
        return _keep_comment_column(text, start, end, flow(value))
    indent = at.key.start_mark.column + 2 if at.key is not None else 0
    if isinstance(value, str) and "\n" in value:
        literal = _literal(value, indent)
        rendered = literal + "\n" if literal is not None and block_scalar else (
            literal if literal is not None else flow(value) + ("\n" if block_scalar else ""))  # fmt: skip
        return _splice(text, start, end, rendered)
    if block_scalar:
        return _splice(text, start, end, _plain(value) + "\n")
    inline = not isinstance(value, (dict, list)) or _flat(value)
    if inline and not _is_block(node) and not _empty_scalar(node):
        rendered = flow(value) if isinstance(value, (dict, list)) else _plain(value)
        return _keep_comment_column(text, start, end, rendered)
    if at.key is None:
        raise EditFailed("replacing the document root")
    # Everything from the key's colon on: "key: {a: 1}" or "key:" and indented lines.
    colon = text.find(":", at.key.end_mark.index)
    if colon < 0 or (colon > start and not _empty_scalar(node)):
        raise EditFailed("no colon after the key")
    lines = block("k", value, at.key.start_mark.column)
    first, rest = lines[0], lines[1:]
    head = first[first.index(":", at.key.start_mark.column + 1) :]
    tail = end if not _empty_scalar(node) else colon + 1
    # A comment on the key's own line ("sanctions:   # Art. 14(2)") stays on it.
    line_end = text.find("\n", colon)
    comment = text[colon + 1 : line_end].strip() if 0 <= line_end < start else ""
    if comment.startswith("#"):
        head += "  " + comment
    return _splice(text, colon, tail, "\n".join([head, *rest]))


_COMMENT = re.compile(r"([^#'\"\n]*?)( +)#")


def _keep_comment_column(text: str, start: int, end: int, new: str) -> str:
    """Replace ``text[start:end]`` keeping a comment later on the line where it was (one
    space before it at least), so aligned comments stay aligned."""
    m = _COMMENT.match(text, end)
    if m is None or "\n" in text[start:end]:
        return _splice(text, start, end, new)
    between, spaces = m.group(1), len(m.group(2))
    spaces = max(1, spaces - (len(new) - (end - start)))
    return text[:start] + new + between + " " * spaces + text[m.end() - 1 :]


def _insert(text: str, at: _At, key: str, value: Any) -> str:
    """Add ``key: value`` to a mapping, after its last entry, in the mapping's style."""
    node = at.node
    assert isinstance(node, yaml.MappingNode)
    if node.flow_style or at.in_flow:
        close = text.rfind("}", node.start_mark.index, node.end_mark.index)
        if close < 0:
            raise EditFailed("flow mapping without a closing brace")
        entry = f"{flow(key)}: {flow(value)}"
        if not node.value:
            return _splice(text, close, close, entry)
        end = _content_end(node.value[-1][1])
        return _splice(text, end, end, ", " + entry)
    if not node.value:
        raise EditFailed("empty block mapping")
    col = node.value[0][0].start_mark.column
    lines = "\n".join(block(key, value, col))
    end = _content_end(node)
    if text[end - 1 : end] == "\n":  # the last entry was a block scalar
        return _splice(text, end, end, lines + "\n")
    line_end = text.find("\n", end)
    if line_end < 0:
        return text + "\n" + lines + "\n"
    return _splice(text, line_end, line_end, "\n" + lines)


def _delete(text: str, path: Path) -> str:
    found, _, _ = _find(text, path)
    if found is None or found.key is None:
        return text
    parent_found, _, _ = _find(text, path[:-1])
    assert parent_found is not None
    parent = parent_found.node
    assert isinstance(parent, yaml.MappingNode)
    pairs = parent.value
    index = next(i for i, (k, _) in enumerate(pairs) if k is found.key or
                 (isinstance(k, yaml.ScalarNode) and k.value == path[-1]))  # fmt: skip
    key_node, value_node = pairs[index]
    if len(pairs) == 1:
        if parent_found.key is None:
            raise EditFailed("emptying the document")
        return _replace(text, parent_found, {})  # an empty mapping stays a mapping
    if parent.flow_style or parent_found.in_flow:
        if index > 0:
            start = _content_end(pairs[index - 1][1])
            return _splice(text, start, _content_end(value_node), "")
        return _splice(text, key_node.start_mark.index, pairs[1][0].start_mark.index, "")
    line_start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    end = _content_end(value_node)
    if text[end - 1 : end] != "\n":
        line_end = text.find("\n", end)
        end = len(text) if line_end < 0 else line_end + 1
    return _splice(text, line_start, end, "")
