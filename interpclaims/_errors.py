"""The one exception hierarchy of interpclaims.

Every error says what went wrong, where (claim, site, model), why, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "ClaimInconclusive",
    "ClaimRefuted",
    "ClaimWarning",
    "DataError",
    "HookLeakError",
    "InterpClaimsError",
    "InterventionDidNotFire",
    "ModelLoadError",
    "NotPlanned",
    "SiteError",
    "Unsupported",
]


class InterpClaimsError(Exception):
    """Base class of every error raised by interpclaims."""


class SiteError(InterpClaimsError, ValueError):
    """A site name could not be parsed, or does not exist in the model."""


class ModelLoadError(InterpClaimsError):
    """A model name could not be resolved or loaded on a backend."""


class BackendUnavailable(ModelLoadError):
    """The package behind a backend is not installed."""


class Unsupported(InterpClaimsError):
    """An analysis that this backend, architecture or environment cannot run (e.g. attribution
    graphs of GPT-2 on nnsight); a claim that meets it is skipped with the message as reason."""


class NotPlanned(InterpClaimsError):
    """An analysis that ``--claims-plan`` cannot follow without running the model."""


class DataError(InterpClaimsError, ValueError):
    """A dataset could not be found, parsed or tokenized."""


class HookLeakError(InterpClaimsError):
    """A hook or edit stayed attached to a model after a claim finished."""


class InterventionDidNotFire(InterpClaimsError):
    """An intervention left the activation it targets unchanged (a silent no-op)."""


class ClaimWarning(UserWarning):
    """A claim was decided on too few prompts, or on an interval too wide for its margin."""


class ClaimRefuted(AssertionError):
    """The interval of a claim lies on the wrong side of its reference: the claim is false."""


class ClaimInconclusive(InterpClaimsError):
    """The interval of a claim straddles its reference: the data cannot decide it."""


class StoreWarning(UserWarning):
    """A store entry was damaged (it is deleted and rebuilt), or could not be locked or written."""


# Shown as ``interpclaims.ClaimRefuted`` in tracebacks and reports (the public name), not as the
# private module that defines them.
for _cls in (InterpClaimsError, SiteError, ModelLoadError, BackendUnavailable, DataError,
             HookLeakError, InterventionDidNotFire, ClaimWarning, ClaimRefuted, ClaimInconclusive,
             StoreWarning):
    _cls.__module__ = "interpclaims"
del _cls
