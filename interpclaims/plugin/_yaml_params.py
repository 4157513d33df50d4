"""``parametrize:`` of a YAML claim: a sweep, one test per combination of values, whose
arguments name the values as ``{layer}`` placeholders (one family, as a parametrized Python test)."""

from __future__ import annotations

import itertools
import keyword
import re
from collections.abc import Iterator, Mapping
from typing import Any

from interpclaims.plugin._yaml_nodes import NodeReader, describe

__all__ = ["combinations", "fill", "placeholders", "read_parametrize"]

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# the test function's own arguments, which a parameter would shadow
TAKEN = ("model", "claim", "request")


def read_parametrize(reader: NodeReader, node: Any, where: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """``((name, values), ...)`` in the order written; values are numbers, strings or booleans."""
    keys = reader.mapping_any(node, f"the parametrize of {where}")
    out = []
    for name, (key_node, value_node) in keys.items():
        if not name.isidentifier() or keyword.iskeyword(name) or name in TAKEN:
            raise reader.error(key_node, f"{where}: parameter name {name!r} cannot be used; name it "
                               f"with letters, digits and _ (not a Python keyword, nor "
                               f"{', '.join(TAKEN)})")
        values = reader.value(value_node)
        if (not isinstance(values, list) or not values
                or not all(isinstance(v, (int, float, str)) for v in values)):
            raise reader.error(value_node, f"{where}: parametrize.{name} must be a non-empty list "
                               f"of numbers or names, got {describe(values)}; write e.g. "
                               f"`{name}: [0, 1]`")
        out.append((name, tuple(values)))
    return tuple(out)


def placeholders(value: Any) -> set[str]:
    """The ``{name}`` placeholders in an argument value (in strings, also inside lists)."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def fill(value: Any, params: Mapping[str, Any]) -> Any:
    """``value`` with its placeholders replaced: ``"{layer}"`` alone becomes the value itself (a
    number stays a number); inside a longer string, its text (``"blocks.{layer}.hook_z"``)."""
    if isinstance(value, list):
        return [fill(v, params) for v in value]
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value)
    if whole and whole.group(1) in params:
        return params[whole.group(1)]
    return PLACEHOLDER.sub(lambda m: str(params.get(m.group(1), m.group(0))), value)


def combinations(sweep: tuple[tuple[str, tuple[Any, ...]], ...]) -> Iterator[dict[str, Any]]:
    """Every combination of the sweep's values (one empty combination without a sweep)."""
    names = [name for name, _ in sweep]
    for values in itertools.product(*(values for _, values in sweep)):
        yield dict(zip(names, values, strict=True))
