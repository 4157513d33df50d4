"""The schema of a claims file in YAML (``test_*.yaml``), read with the line of every key.

A file is one mapping: ``model`` (and optionally ``backends``, ``family``) for all its claims, and
``claims``, a list of claims. A claim names an analysis of :mod:`interpclaims` with its keyword
arguments, the :class:`~interpclaims.Estimate` to decide (the result itself, or an attribute such
as a probe's ``accuracy``), and one comparator with its reference::

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

import dataclasses
import difflib
import inspect
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from interpclaims import analyses
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate

__all__ = ["COMPARATORS", "ClaimFileError", "ClaimSpec", "read_claims_file"]


class ClaimFileError(InterpClaimsError, pytest.Collector.CollectError):
    """A claims file in YAML that does not follow the schema. Raised while pytest collects the
    file, it is reported as its message alone: ``file:line: what is wrong; how to fix it``."""


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
              "within", "low", "high", "family", "xfail", "model", "backends")
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
    args: tuple[tuple[str, Any], ...]
    attribute: str | None
    comparator: str
    reference: tuple[tuple[str, Any], ...]  # threshold / control / by / within / low / high
    family: str | None
    xfail: tuple[bool, str] | None  # (strict, reason)

    def reference_value(self, key: str, default: Any = None) -> Any:
        return dict(self.reference).get(key, default)


class _Reader:
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
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping of keys ({', '.join(allowed)}), got "
                             f"{_kind(node)}")
        # `<<: *anchor` merges keys, which the mapping's own keys override (as in YAML)
        # (a node reached twice through an alias is flattened once)
        own = self.own_keys.setdefault(
            id(node), {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"})
        yaml.SafeLoader("").flatten_mapping(node)
        out: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or key not in allowed:
                near = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise self.error(key_node, f"unknown key {key!r} in {what}; {hint}known keys: "
                                 f"{', '.join(allowed)}")
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
            raise self.error(node, f"{what} must be a non-empty string, got {_shown(value)}{hint}")
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
            raise self.error(node, f"{what} must be a finite number, got {_shown(value)}; write "
                             "e.g. 0.5")
        return float(value)

    def backends(self, node: Any) -> tuple[str, ...]:
        from interpclaims.backends import BACKENDS

        value = self.value(node)
        if not isinstance(value, list) or not value or not all(isinstance(b, str) for b in value):
            raise self.error(node, f"backends must be a non-empty list of backend names, got "
                             f"{_shown(value)}; write e.g. backends: [tl, nnsight]")
        bad = [b for b in value if b not in BACKENDS]
        if bad:
            raise self.error(node, f"unknown backend(s) {bad}; known backends: {', '.join(BACKENDS)}")
        return tuple(value)


def _kind(node: Any) -> str:
    return {"ScalarNode": "a single value", "SequenceNode": "a list", "MappingNode": "a mapping"}.get(
        type(node).__name__, "nothing")


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"


def analysis_names() -> dict[str, tuple[Any, type]]:
    """The public analyses a YAML claim may name: ``name -> (function, return type)``, those
    that return an :class:`Estimate` or a result holding estimates as attributes."""
    out: dict[str, tuple[Any, type]] = {}
    for name in analyses.__all__:
        fn = getattr(analyses, name)
        if not inspect.isfunction(fn):
            continue
        returned = fn.__globals__.get(str(inspect.signature(fn).return_annotation))
        if isinstance(returned, type) and (returned is Estimate or _estimate_fields(returned)):
            out[name] = (fn, returned)
    return out


def _estimate_fields(cls: type) -> tuple[str, ...]:
    if not dataclasses.is_dataclass(cls):
        return ()
    return tuple(f.name for f in dataclasses.fields(cls)
                 if str(f.type).replace(" ", "") in ("Estimate", "Estimate|None"))


def read_claims_file(path: Path, shown: str) -> list[ClaimSpec]:
    """The claims of the YAML file at ``path``, checked against the schema."""
    import yaml

    reader = _Reader(path, shown)
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
                           f"{_kind(claims_node)}; write each claim as `- name: ...`")
    specs = [_claim(reader, node, defaults) for node in claims_node.value]
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.name in seen:
            raise ClaimFileError(f"{shown}:{spec.line}: claim name {spec.name!r} is used twice "
                                 f"(also at line {seen[spec.name]}); names must be unique in a file")
        seen[spec.name] = spec.line
    return specs


def _claim(reader: _Reader, node: Any, defaults: dict[str, Any]) -> ClaimSpec:
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
    fn, returned = _analysis(reader, keys["analysis"][1], where)
    args = _args(reader, keys.get("args", (None, None))[1], keys["analysis"][1], fn, where)
    attribute = _attribute(reader, keys.get("attribute", (None, None))[1], keys["analysis"][1],
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
        analysis=fn.__name__, args=args, attribute=attribute, comparator=comparator,
        reference=reference, family=family,
        xfail=_xfail(reader, keys["xfail"][1], where) if "xfail" in keys else None,
    )


def _analysis(reader: _Reader, node: Any, where: str) -> tuple[Any, type]:
    name = reader.string(node, f"{where}: analysis")
    known = analysis_names()
    if name not in known:
        near = difflib.get_close_matches(name, list(known), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise reader.error(node, f"{where}: unknown analysis {name!r}; {hint}analyses that return "
                           f"an estimate: {', '.join(sorted(known))}")
    return known[name]


def _args(reader: _Reader, node: Any, analysis_node: Any, fn: Any, where: str
          ) -> tuple[tuple[str, Any], ...]:
    import yaml

    params = list(inspect.signature(fn).parameters.values())[1:]  # the first is the model
    names = tuple(p.name for p in params)
    keys = reader.mapping(node, names, f"the args of {fn.__name__}()") if node is not None else {}
    missing = [p.name for p in params if p.default is inspect.Parameter.empty and p.name not in keys]
    if missing:
        raise reader.error(node if node is not None else analysis_node,
                           f"{where}: {fn.__name__}() needs {', '.join(missing)}; add them under "
                           f"`args:` (e.g. `args: {{{missing[0]}: ...}}`)")
    out = []
    annotations = {p.name: p.annotation for p in params}
    for key, (_, value_node) in keys.items():
        if isinstance(value_node, yaml.MappingNode):
            raise reader.error(value_node, f"{where}: args.{key} is a mapping; analyses take "
                               "names, numbers or lists")
        value = reader.value(value_node)
        problem = _bad_value(value, annotations[key], fn)
        if problem:
            raise reader.error(value_node, f"{where}: args.{key}: {problem}")
        out.append((key, value))
    return tuple(out)


def _bad_value(value: Any, annotation: Any, fn: Any) -> str:
    """Why ``value`` cannot be the argument annotated ``annotation`` (a choice among names, or
    a site), or ``""``; what the annotation does not say is left to the analysis."""
    if not isinstance(value, str):
        return ""
    if "Site" in str(annotation):
        from interpclaims._errors import SiteError
        from interpclaims._sites import parse_site

        try:
            parse_site(value)
        except SiteError as e:
            return str(e)
        return ""
    try:  # the analyses' own string annotations, e.g. "Ablation" -> Literal["zero", ...]
        hint = eval(str(annotation), fn.__globals__)
    except Exception:  # a name known only to type checkers: nothing to check here
        return ""
    options = [a for a in (typing.get_args(hint) if typing.get_origin(hint) is typing.Literal
                           else ()) if isinstance(a, str)]
    if options and value not in options:
        near = difflib.get_close_matches(value, options, n=1)
        hint_text = f"did you mean {near[0]!r}? " if near else ""
        return f"{value!r} is not one of {', '.join(options)}; {hint_text}".rstrip("; ")
    return ""


def _attribute(reader: _Reader, node: Any, analysis_node: Any, returned: type, where: str
               ) -> str | None:
    fields = _estimate_fields(returned)
    if node is None:
        if returned is Estimate:
            return None
        raise reader.error(analysis_node, f"{where}: {returned.__name__} holds several estimates; "
                           f"pick one with `attribute:` ({', '.join(fields)})")
    name = reader.string(node, f"{where}: attribute")
    if name not in fields:
        choices = ", ".join(fields) or "none: the analysis returns the estimate itself"
        near = difflib.get_close_matches(name, fields, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise reader.error(node, f"{where}: {returned.__name__} has no estimate {name!r}; {hint}"
                           f"estimates: {choices}")
    return name


def _comparator(reader: _Reader, keys: dict[str, tuple[Any, Any]], where: str
                ) -> tuple[str, tuple[tuple[str, Any], ...]]:
    node = keys["comparator"][1]
    name = reader.string(node, f"{where}: comparator")
    if name not in COMPARATORS:
        near = difflib.get_close_matches(name, list(COMPARATORS), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
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


def _xfail(reader: _Reader, node: Any, where: str) -> tuple[bool, str]:
    keys = reader.mapping(node, ("reason", "strict"), f"the xfail of {where}")
    if "reason" not in keys:
        raise reader.error(node, f"{where}: xfail needs a `reason:` saying why the claim is false "
                           "and how it fails")
    reason = reader.string(keys["reason"][1], f"{where}: xfail reason")
    strict = reader.value(keys["strict"][1]) if "strict" in keys else True
    if not isinstance(strict, bool):
        raise reader.error(keys["strict"][1], f"{where}: xfail strict must be true or false, got "
                           f"{_shown(strict)}")
    return strict, reason
