"""The report as a flat table: ``ic.read_report(path)`` (a pandas DataFrame) and ``claims.csv``.

One row per claim and backend; the columns are :data:`COLUMNS`. pandas is imported only by
:func:`read_report` (the ``report`` extra); the CSV is written with the standard library.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpclaims._errors import InterpClaimsError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "PROPERTIES", "claim_row", "read_report", "table_rows", "write_csv"]

COLUMNS = (
    "claim_id", "backend", "model", "verdict", "estimate", "ci_low", "ci_high", "n", "method",
    "tested", "tested_ci_low", "tested_ci_high", "comparator", "reference", "reference_value",
    "p", "p_adjusted", "alpha", "family", "family_size", "correction", "xfail", "xfail_reason",
    "outcome", "warnings", "baseline_verdict", "baseline_value", "regressions", "seed", "nodeid",
)

# the columns a test attaches to its pytest report as user_properties (so --junitxml has them)
PROPERTIES = ("claim_id", "verdict", "estimate", "ci_low", "ci_high", "n", "reference", "p",
              "p_adjusted")


def claim_row(c: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the table from one claim row of ``claims.json``."""
    est, tested, ref = c["estimate"], c["tested"], c.get("reference") or {}
    base = c.get("baseline") or {}
    return {
        "claim_id": c.get("claim_id", ""), "backend": c["backend"], "model": c["model"],
        "verdict": c["verdict"], "estimate": est.get("value"), "ci_low": est.get("ci_low"),
        "ci_high": est.get("ci_high"), "n": est.get("n"), "method": est.get("method"),
        "tested": tested.get("value"), "tested_ci_low": tested.get("ci_low"),
        "tested_ci_high": tested.get("ci_high"), "comparator": c["comparator"],
        "reference": ref.get("label"), "reference_value": ref.get("value"), "p": c.get("p"),
        "p_adjusted": c.get("p_adjusted"), "alpha": c.get("alpha"), "family": c.get("family"),
        "family_size": c.get("family_size"), "correction": c.get("correction"),
        "xfail": bool(c.get("xfail")), "xfail_reason": c.get("xfail_reason"),
        "outcome": c.get("outcome"), "warnings": "; ".join(c.get("warnings") or ()),
        "baseline_verdict": base.get("verdict"), "baseline_value": base.get("value"),
        "regressions": "; ".join(base.get("regressions") or ()), "seed": c.get("seed"),
        "nodeid": c.get("nodeid"),
    }


def table_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of the table, one per claim and backend, in the report's order."""
    return [claim_row(c) for c in report["claims"]]


def write_csv(report: Mapping[str, Any], path: Path) -> None:
    """``claims.csv``: the rows of :func:`table_rows` (an empty cell for a missing value)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table_rows(report))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(out.getvalue(), encoding="utf-8")
    tmp.replace(path)


def read_report(path: str | Path) -> pd.DataFrame:
    """The claims of a ``claims.json`` (or of the ``claims.json`` in a report folder) as a pandas
    DataFrame: one row per claim and backend, columns as in the README (``claim_id``,
    ``backend``, ``model``, ``verdict``, ``estimate``, ``ci_low``, ``ci_high``, ``n``,
    ``reference``, ``p``, ``p_adjusted``, ``family``, ``warnings``, ...). Needs pandas
    (``pip install interpclaims[report]``)."""
    __tracebackhide__ = True
    try:
        import pandas as pd
    except ImportError as e:
        raise InterpClaimsError("ic.read_report() needs pandas: pip install "
                                "'interpclaims[report]'") from e
    file = Path(path)
    if file.is_dir():
        file = file / "claims.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        rows = table_rows(data)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InterpClaimsError(f"ic.read_report({str(path)!r}): cannot read {file} as a "
                                f"claims.json written by interpclaims ({e!r})") from e
    return pd.DataFrame(rows, columns=list(COLUMNS))
