"""Claims files in YAML (``test_*.yaml``), collected as ordinary pytest test functions.

Each claim of a file becomes a Python test function ``(model, claim)`` carrying the markers a
Python claim would carry (``ic.model``, ``ic.family``, ``xfail``), in a module object built from the
file. pytest's own :class:`pytest.Module` collects it, so a YAML claim goes through exactly the
machinery of a Python one: the backend parametrization (ids ``tl``/``nnsight``), the ``model``
fixture (registry, leak check), the ``claim`` fixture (the same :class:`~interpclaims.Claim`, seed
and family counting), INCONCLUSIVE and xfail outcomes, and the report rows. Node ids read
``claims/test_agreement_yaml.yaml::subject_head_L1H3_is_necessary[tl]``.

The function's code is compiled with the YAML file as its file name and the claim's first line as
its line, so pytest shows ``file.yaml:line`` as the test's location, in tracebacks and in warnings.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import types
from pathlib import Path
from typing import Any

import pytest

from interpclaims import analyses
from interpclaims._errors import InterpClaimsError
from interpclaims.plugin._markers import family, model
from interpclaims.plugin._yaml_params import fill
from interpclaims.plugin._yaml_schema import ClaimSpec, read_claims_file

__all__ = ["YAML_FILES_INI", "ClaimsFile", "add_yaml_ini", "collect_claims_file", "run_claim"]

YAML_FILES_INI = "claims_yaml_files"


def add_yaml_ini(parser: pytest.Parser) -> None:
    parser.addini(YAML_FILES_INI, "glob patterns of the claims files in YAML that pytest collects "
                  "(file names; empty: none)", type="args", default=["test_*.yaml", "test_*.yml"])


def collect_claims_file(file_path: Path, parent: pytest.Collector) -> ClaimsFile | None:
    """The collector of ``file_path`` when its name matches ``claims_yaml_files``."""
    patterns = parent.config.getini(YAML_FILES_INI)
    if file_path.suffix in (".yaml", ".yml") and any(
            fnmatch.fnmatch(file_path.name, p) for p in patterns):
        return ClaimsFile.from_parent(parent, path=file_path)
    return None


class ClaimsFile(pytest.Module):
    """A YAML claims file: a module whose test functions are its claims."""

    def _getobj(self) -> types.ModuleType:
        built = getattr(self, "_obj", None)  # pytest asks again for every function it collects
        if built is not None:
            return built  # type: ignore[no-any-return]
        specs = read_claims_file(self.path, self.nodeid or str(self.path))
        module = types.ModuleType(f"interpclaims_yaml.{self.path.stem}", f"claims in {self.nodeid}")
        module.__file__ = str(self.path)
        for spec in specs:
            setattr(module, spec.name, _claim_function(spec, self.path, module.__name__))
        return module


def _claim_function(spec: ClaimSpec, path: Path, module_name: str) -> Any:
    """The test function of one claim, located at the claim's line of the YAML file."""
    namespace: dict[str, Any] = {"__name__": module_name, "_run": functools.partial(run_claim, spec)}
    names = [name for name, _ in spec.sweep]  # identifiers, checked when the file was read
    # the call spans two lines so that pytest underlines no part of the YAML line it shows
    source = ("\n" * (spec.line - 1) + f"def yaml_claim({', '.join(['model', 'claim', *names])}): "
              f"_run(model,\n claim, {{{', '.join(f'{n!r}: {n}' for n in names)}}})\n")
    exec(compile(source, str(path), "exec"), namespace)
    fn = namespace["yaml_claim"]
    fn.__name__ = fn.__qualname__ = spec.name
    fn.__doc__ = f"{spec.analysis}() {spec.comparator} (claim {spec.name!r} of {path.name})"
    fn.__test__ = True  # collected whatever python_functions says
    marks = [model(spec.model, backends=list(spec.backends) if spec.backends else None)]
    marks += [pytest.mark.parametrize(name, list(values)) for name, values in spec.sweep]
    if spec.family is not None:
        marks.append(family(spec.family))
    if spec.xfail is not None:
        strict, reason = spec.xfail
        marks.append(pytest.mark.xfail(strict=strict, reason=reason))
    for mark in marks:
        fn = mark(fn)
    return fn


def run_claim(spec: ClaimSpec, model: Any, claim: Any, params: dict[str, Any]) -> None:
    """Run the claim's analysis on ``model`` (with the values ``params`` of its sweep) and decide
    it with the ``claim`` fixture."""
    __tracebackhide__ = True
    # a fresh copy per run: lists from the file stay as written
    args = {key: fill(copy.deepcopy(value), params) for key, value in spec.args}
    result = getattr(analyses, spec.analysis)(model, **args)
    estimate = getattr(result, spec.attribute) if spec.attribute else result
    if estimate is None:
        raise InterpClaimsError(
            f"claim {spec.name!r}: {spec.analysis}() measured no {spec.attribute} here (it is "
            f"None for this result); claim another estimate of it with `attribute:`")
    subject = claim.that(estimate)
    ref = dict(spec.reference)
    if spec.comparator == "exceeds":
        if "control" in ref and not hasattr(estimate, "control"):
            raise InterpClaimsError(
                f"claim {spec.name!r}: {spec.analysis}() returned {type(estimate).__name__} "
                "(several estimates, e.g. how: [zero, mean]), which carries no controls; compare "
                "it with a `threshold:`, or claim one kind at a time against `control:`")
        other = estimate.control(ref["control"]) if "control" in ref else ref["threshold"]
        subject.exceeds(other, by=ref.get("by", 0.0))
    elif spec.comparator == "is_negligible":
        subject.is_negligible(within=ref["within"])
    elif spec.comparator == "is_between":
        subject.is_between(ref["low"], ref["high"])
    else:  # is_at_least, is_at_most
        getattr(subject, spec.comparator)(ref["threshold"])
