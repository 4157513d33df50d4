"""The schema of a claims file in YAML (``test_*.yaml``), read with the line of every key.

A file is one mapping: ``model`` (and optionally ``backends``, ``family``) for all its claims, and
``claims``, a list of claims. A claim names an analysis of :mod:`interpclaims` with its keyword
arguments, the :class:`~interpclaims.Estimate` to decide (the result itself, or an attribute such
as a probe's ``accuracy``), and one comparator with its reference; ``parametrize`` makes it a
sweep (see :mod:`interpclaims.plugin._yaml_params`)::

    model: zoo/agreement
    claims:
      - name: subject_head_L1H3_is_necessary
        analysis: ablate
        args: {component: L1H3, data: agreement, how: mean, metric: logit_diff}
        comparator: is_at_most
        threshold: -1.0

Every mistake is a :class:`ClaimFileError` naming the file and line and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpclaims.plugin._yaml_analyses import read_analysis, read_args, read_attribute
from interpclaims.plugin._yaml_nodes import ClaimFileError, NodeReader, describe, kind_of, nearest
from interpclaims.plugin._yaml_params import read_parametrize

__all__ = ["COMPARATORS", "ClaimFileError", "ClaimSpec", "read_claims_file"]


# comparator -> (required keys, optional keys) of the claim, besides the common ones
COMPARATORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "is_at_least": (("threshold",), ()),
    "is_at_most": (("threshold",), ()),
    "exceeds": ((), ("threshold", "control", "by")),
    "is_negligible": (("within",), ()),
    "is_between": (("low", "high"), ()),
}
REFERENCE_KEYS = ("threshold", "control", "by", "within", "low", "high")
FILE_KEYS = ("model", "backends", "family", "claims")
CLAIM_KEYS = ("name", "analysis", "args", "attribute", "comparator", "threshold", "control", "by",
              "within", "low", "high", "family", "xfail", "model", "backends", "parametrize")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# names pytest reads from a test module for itself (hooks, xunit set-up, marks)
RESERVED = re.compile(r"(pytest.*|__.*|(setup|teardown)_(module|function)|setUpModule|"
                      r"tearDownModule)\Z")


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """One claim of a YAML file: what to measure, and how to decide it."""

    name: str
    line: int  # 1-based line of the claim's first key
    model: str
    backends: tuple[str, ...] | None
    analysis: str
    args: tuple[tuple[str, Any], ...]  # values may hold {name} placeholders of the sweep
    sweep: tuple[tuple[str, tuple[Any, ...]], ...]  # parametrize: (name, values) in file order
    attribute: str | None
    comparator: str
    reference: tuple[tuple[str, Any], ...]  # threshold / control / by / within / low / high
    family: str | None
    xfail: tuple[bool, str] | None  # (strict, reason)


def read_claims_file(path: Path, shown: str) -> list[ClaimSpec]:
    """The claims of the YAML file at ``path``, checked against the schema."""
    import yaml

    reader = NodeReader(path, shown)
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ClaimFileError(f"{shown}:{line}: not valid YAML: "
                             f"{getattr(e, 'problem', None) or e}") from None
    top = reader.mapping(root, FILE_KEYS, "the file (top level)")
    if "claims" not in top:
        raise reader.error(root, "the file has no `claims:` list; add one, e.g. `claims:` followed by "
                           "`- name: ...` entries")
    defaults = {
        "model": reader.string(top["model"][1], "model") if "model" in top else None,
        "backends": reader.backends(top["backends"][1]) if "backends" in top else None,
        "family": reader.string(top["family"][1], "family") if "family" in top else None,
    }
    claims_node = top["claims"][1]
    if not isinstance(claims_node, yaml.SequenceNode) or not claims_node.value:
        raise reader.error(claims_node, f"`claims` must be a non-empty list of claims, got "
                           f"{kind_of(claims_node)}; write each claim as `- name: ...`")
    specs = [_claim(reader, node, defaults) for node in claims_node.value]
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.name in seen:
            raise ClaimFileError(f"{shown}:{spec.line}: claim name {spec.name!r} is used twice "
                                 f"(also at line {seen[spec.name]}); names must be unique in a file")
        seen[spec.name] = spec.line
    return specs


def _claim(reader: NodeReader, node: Any, defaults: dict[str, Any]) -> ClaimSpec:
    keys = reader.mapping(node, CLAIM_KEYS, "a claim")
    for required in ("name", "analysis", "comparator"):
        if required not in keys:
            example = {"name": "name: my_claim", "analysis": "analysis: ablate",
                       "comparator": f"comparator: is_at_least (one of {', '.join(COMPARATORS)})"}
            raise reader.error(node, f"the claim has no `{required}`; add `{example[required]}`")
    name = reader.string(keys["name"][1], "name", NAME, hint=" (letters, digits and _, not "
                         "starting with a digit: it becomes the test's name)")
    if RESERVED.match(name):
        raise reader.error(keys["name"][1], f"name {name!r} is reserved by pytest for its own use "
                           "in a test module; choose another name for the claim")
    where = f"claim {name!r}"
    fn, returned = read_analysis(reader, keys["analysis"][1], where)
    sweep = (read_parametrize(reader, keys["parametrize"][1], where) if "parametrize" in keys
             else ())
    args = read_args(reader, keys.get("args", (None, None))[1], keys["analysis"][1], fn, where,
                     sweep)
    attribute = read_attribute(reader, keys.get("attribute", (None, None))[1], keys["analysis"][1],
                           returned, where)
    comparator, reference = _comparator(reader, keys, where)
    model = (reader.string(keys["model"][1], "model") if "model" in keys else defaults["model"])
    if model is None:
        raise reader.error(node, f"{where} names no model; add `model: zoo/agreement` at the top of "
                           "the file (for every claim) or to the claim")
    family = reader.string(keys["family"][1], "family") if "family" in keys else defaults["family"]
    return ClaimSpec(
        name=name, line=node.start_mark.line + 1, model=model,
        backends=reader.backends(keys["backends"][1]) if "backends" in keys else defaults["backends"],
        analysis=fn.__name__, args=args, sweep=sweep, attribute=attribute, comparator=comparator,
        reference=reference, family=family,
        xfail=_xfail(reader, keys["xfail"][1], where) if "xfail" in keys else None,
    )


def _comparator(reader: NodeReader, keys: dict[str, tuple[Any, Any]], where: str
                ) -> tuple[str, tuple[tuple[str, Any], ...]]:
    node = keys["comparator"][1]
    name = reader.string(node, f"{where}: comparator")
    if name not in COMPARATORS:
        hint = nearest(name, list(COMPARATORS))
        raise reader.error(node, f"{where}: unknown comparator {name!r}; {hint}comparators: "
                           f"{', '.join(COMPARATORS)}")
    required, optional = COMPARATORS[name]
    given: list[str] = [k for k in REFERENCE_KEYS if k in keys]
    for key in given:
        if key not in required + optional:
            takes = ", ".join(required + optional)
            raise reader.error(keys[key][0], f"{where}: `{key}` does not apply to {name} (it takes "
                               f"{takes})")
    for key in required:
        if key not in keys:
            raise reader.error(node, f"{where}: {name} needs `{key}:`; add e.g. `{key}: 0.5`")
    if name == "exceeds" and ("threshold" in keys) == ("control" in keys):
        raise reader.error(node, f"{where}: exceeds compares with either a number (`threshold:`) or "
                           "a control of the estimate (`control: random_heads`); give one of them")
    reference: list[tuple[str, Any]] = []
    for key in given:
        value_node = keys[key][1]
        reference.append((key, reader.string(value_node, f"{where}: control") if key == "control"
                          else reader.number(value_node, f"{where}: {key}")))
    values = dict(reference)
    if name == "is_between" and not values["low"] < values["high"]:
        raise reader.error(keys["low"][0], f"{where}: is_between needs low < high, got "
                           f"{values['low']} and {values['high']}")
    if name == "is_negligible" and values["within"] <= 0:
        raise reader.error(keys["within"][1], f"{where}: within must be > 0")
    return name, tuple(reference)


def _xfail(reader: NodeReader, node: Any, where: str) -> tuple[bool, str]:
    keys = reader.mapping(node, ("reason", "strict"), f"the xfail of {where}")
    if "reason" not in keys:
        raise reader.error(node, f"{where}: xfail needs a `reason:` saying why the claim is false "
                           "and how it fails")
    reason = reader.string(keys["reason"][1], f"{where}: xfail reason")
    strict = reader.value(keys["strict"][1]) if "strict" in keys else True
    if not isinstance(strict, bool):
        raise reader.error(keys["strict"][1], f"{where}: xfail strict must be true or false, got "
                           f"{describe(strict)}")
    return strict, reason
