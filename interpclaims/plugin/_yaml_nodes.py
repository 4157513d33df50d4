"""Reading the YAML node tree of a claims file, keeping the line of every key and value."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import pytest

from interpclaims._errors import InterpClaimsError

__all__ = ["ClaimFileError", "NodeReader", "describe", "kind_of", "nearest"]


class ClaimFileError(InterpClaimsError, pytest.Collector.CollectError):
    """A claims file in YAML that does not follow the schema. Raised while pytest collects the
    file, it is reported as its message alone: ``file:line: what is wrong; how to fix it``."""



def nearest(name: str, options: list[str] | tuple[str, ...]) -> str:
    """``"did you mean 'x'? "`` for the option nearest to ``name``, or ``""``."""
    near = difflib.get_close_matches(str(name), list(options), n=1)
    return f"did you mean {near[0]!r}? " if near else ""


class NodeReader:
    """Reads the YAML node tree of one file; every error names the file and the node's line."""

    def __init__(self, path: Path, shown: str) -> None:
        self.path = path
        self.shown = shown  # the path as the error shows it (relative to the rootdir)
        self.own_keys: dict[int, set[int]] = {}  # mapping node -> its own (not merged) key nodes

    def error(self, node: Any, message: str) -> ClaimFileError:
        line = node.start_mark.line + 1 if node is not None else 1
        return ClaimFileError(f"{self.shown}:{line}: {message}")

    def mapping(self, node: Any, allowed: tuple[str, ...], what: str) -> dict[str, tuple[Any, Any]]:
        """``key -> (key node, value node)`` of a mapping; unknown keys say the nearest one."""
        return self._mapping(node, allowed, what)

    def mapping_any(self, node: Any, what: str) -> dict[str, tuple[Any, Any]]:
        """A mapping whose keys the file chooses (e.g. parameter names)."""
        return self._mapping(node, None, what)

    def _mapping(self, node: Any, allowed: tuple[str, ...] | None, what: str
                 ) -> dict[str, tuple[Any, Any]]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            keys = f" ({', '.join(allowed)})" if allowed else ""
            raise self.error(node, f"{what} must be a mapping of keys{keys}, got {kind_of(node)}")
        # `<<: *anchor` merges keys, which the mapping's own keys override (as in YAML)
        # (a node reached twice through an alias is flattened once)
        own = self.own_keys.setdefault(
            id(node), {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"})
        yaml.SafeLoader("").flatten_mapping(node)
        out: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise self.error(key_node, f"a key of {what} must be a name, got "
                                 f"{kind_of(key_node)}")
            if allowed is not None and key not in allowed:
                raise self.error(key_node, f"unknown key {key!r} in {what}; "
                                 f"{nearest(key, allowed)}known keys: {', '.join(allowed)}")
            if key in out and id(out[key][0]) in own:
                raise self.error(key_node, f"{what} gives {key!r} twice; keep one")
            out[key] = (key_node, value_node)
        return out

    def value(self, node: Any) -> Any:
        import yaml

        return yaml.SafeLoader("").construct_object(node, deep=True) if node is not None else None

    def string(self, node: Any, what: str, pattern: re.Pattern[str] | None = None,
               hint: str = "") -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, f"{what} must be a non-empty string, got {describe(value)}{hint}")
        if pattern is not None and not pattern.match(value):
            raise self.error(node, f"{what} {value!r} is not a valid name{hint}")
        return value

    def number(self, node: Any, what: str) -> float:
        value = self.value(node)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(node, f"{what} must be a finite number, got {describe(value)}; write "
                             "e.g. 0.5")
        return float(value)

    def backends(self, node: Any) -> tuple[str, ...]:
        from interpclaims.backends import BACKENDS

        value = self.value(node)
        if not isinstance(value, list) or not value or not all(isinstance(b, str) for b in value):
            raise self.error(node, f"backends must be a non-empty list of backend names, got "
                             f"{describe(value)}; write e.g. backends: [tl, nnsight]")
        bad = [b for b in value if b not in BACKENDS]
        if bad:
            raise self.error(node, f"unknown backend(s) {bad}; known backends: {', '.join(BACKENDS)}")
        return tuple(value)


def kind_of(node: Any) -> str:
    return {"ScalarNode": "a single value", "SequenceNode": "a list", "MappingNode": "a mapping"}.get(
        type(node).__name__, "nothing")


def describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"
