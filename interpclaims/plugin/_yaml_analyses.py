"""The analyses a YAML claim may name, and the checks of its arguments against their signatures."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any

from interpclaims import analyses
from interpclaims._estimate import Estimate
from interpclaims.plugin._yaml_nodes import NodeReader, nearest
from interpclaims.plugin._yaml_params import combinations, fill, placeholders

__all__ = ["analysis_names", "estimate_fields", "read_analysis", "read_args", "read_attribute"]


def analysis_names() -> dict[str, tuple[Any, type]]:
    """The public analyses a YAML claim may name: ``name -> (function, return type)``, those
    that return an :class:`Estimate` or a result holding estimates as attributes."""
    out: dict[str, tuple[Any, type]] = {}
    for name in analyses.__all__:
        fn = getattr(analyses, name)
        if not inspect.isfunction(fn):
            continue
        # the return annotation, e.g. "Estimate" or "ProbeResult" ("A | B": the first usable)
        parts = str(inspect.signature(fn).return_annotation).split("|")
        defined_in = inspect.unwrap(fn).__globals__  # past the result cache's wrapper
        usable = [t for t in (defined_in.get(p.strip()) for p in parts) if isinstance(t, type)
                  and (t is Estimate or estimate_fields(t))]
        if usable:
            out[name] = (fn, Estimate if Estimate in usable else usable[0])
    return out


def estimate_fields(cls: type) -> tuple[str, ...]:
    if not dataclasses.is_dataclass(cls):
        return ()
    return tuple(f.name for f in dataclasses.fields(cls)
                 if str(f.type).replace(" ", "") in ("Estimate", "Estimate|None"))


def read_analysis(reader: NodeReader, node: Any, where: str) -> tuple[Any, type]:
    name = reader.string(node, f"{where}: analysis")
    known = analysis_names()
    if name not in known:
        hint = nearest(name, list(known))
        raise reader.error(node, f"{where}: unknown analysis {name!r}; {hint}analyses that return "
                           f"an estimate: {', '.join(sorted(known))}")
    return known[name]


def read_args(reader: NodeReader, node: Any, analysis_node: Any, fn: Any, where: str,
              sweep: tuple[tuple[str, tuple[Any, ...]], ...] = ()) -> tuple[tuple[str, Any], ...]:
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
    defined = [name for name, _ in sweep]
    for key, (_, value_node) in keys.items():
        if isinstance(value_node, yaml.MappingNode):
            raise reader.error(value_node, f"{where}: args.{key} is a mapping; analyses take "
                               "names, numbers or lists")
        value = reader.value(value_node)
        unknown = sorted(placeholders(value) - set(defined))
        if unknown:
            raise reader.error(value_node, f"{where}: args.{key} uses {{{unknown[0]}}}, which "
                               f"`parametrize:` does not define (defined: "
                               f"{', '.join(defined) or 'none'}); {nearest(unknown[0], defined)}"
                               "write a parameter's name in braces, or add it under `parametrize:`")
        for combination in combinations(sweep):  # each test of a sweep gets a valid value
            problem = _bad_value(fill(value, combination), annotations[key], fn)
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
        hint = eval(str(annotation), inspect.unwrap(fn).__globals__)
    except Exception:  # a name known only to type checkers: nothing to check here
        return ""
    # a Literal, or a union holding one (e.g. ``StateMetric | MetricFn``: YAML gives only names)
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    members = typing.get_args(hint) if union else (hint,)
    options = [a for m in members if typing.get_origin(m) is typing.Literal
               for a in typing.get_args(m) if isinstance(a, str)]
    if options and value not in options:
        hint_text = nearest(value, options)
        return f"{value!r} is not one of {', '.join(options)}; {hint_text}".rstrip("; ")
    return ""


def read_attribute(reader: NodeReader, node: Any, analysis_node: Any, returned: type, where: str
               ) -> str | None:
    fields = estimate_fields(returned)
    if node is None:
        if returned is Estimate:
            return None
        raise reader.error(analysis_node, f"{where}: {returned.__name__} holds several estimates; "
                           f"pick one with `attribute:` ({', '.join(fields)})")
    name = reader.string(node, f"{where}: attribute")
    if name not in fields:
        choices = ", ".join(fields) or "none: the analysis returns the estimate itself"
        hint = nearest(name, fields)
        raise reader.error(node, f"{where}: {returned.__name__} has no estimate {name!r}; {hint}"
                           f"estimates: {choices}")
    return name
