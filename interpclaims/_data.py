"""Datasets of prompts: a shipped name, a JSONL path, or a list given inline.

Every row is a dict with at least ``text`` (words, no bos); ``id`` is optional (``row-0007`` is
made up). Analyses ask for more fields where they need them (``answer``/``wrong`` for a logit
difference) and say which row lacks them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpclaims._errors import DataError
from interpclaims._hashing import file_sha256

__all__ = ["Dataset", "fixtures_dir", "load_data"]


def fixtures_dir() -> Path:
    """The shipped ``fixtures/`` folder (``INTERPCLAIMS_FIXTURES`` overrides)."""
    env = os.environ.get("INTERPCLAIMS_FIXTURES")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "fixtures"

DataSpec = str | Path | Sequence[str] | Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    rows: tuple[Mapping[str, Any], ...]
    sha256: str

    @property
    def texts(self) -> list[str]:
        return [r["text"] for r in self.rows]

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.rows]

    def field(self, key: str, *, analysis: str) -> list[Any]:
        """The value of ``key`` on every row; an error naming the first row that lacks it."""
        for r in self.rows:
            if key not in r:
                raise DataError(
                    f"{analysis} needs the field {key!r} on every row of dataset {self.name!r}; "
                    f"row {r['id']!r} has only {sorted(r)}"
                )
        return [r[key] for r in self.rows]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "n": len(self.rows)}


def _shipped(name: str) -> Path:
    return fixtures_dir() / "data" / f"{name}.jsonl"


def _normalize(rows: Sequence[Any], source: str) -> tuple[Mapping[str, Any], ...]:
    out = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if isinstance(row, str):
            row = {"text": row}
        if not isinstance(row, Mapping):
            raise DataError(f"{source}: row {i} must be a string or a dict with 'text', got "
                            f"{type(row).__name__}")
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DataError(f"{source}: row {i} has no non-empty 'text' field")
        row = dict(row)
        row.setdefault("id", f"row-{i:04d}")
        row["id"] = str(row["id"])
        if row["id"] in seen:
            raise DataError(f"{source}: id {row['id']!r} appears twice; ids must be unique")
        seen.add(row["id"])
        out.append(row)
    if not out:
        raise DataError(f"{source}: the dataset is empty")
    return tuple(out)


def load_data(data: DataSpec | Dataset) -> Dataset:
    """Resolve ``data=`` of an analysis into a :class:`Dataset`."""
    __tracebackhide__ = True
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.suffix and not path.exists():
            shipped = _shipped(str(data))
            if not shipped.is_file():
                have = sorted(p.stem for p in shipped.parent.glob("*.jsonl"))
                raise DataError(
                    f"no dataset {str(data)!r}: not a shipped dataset (shipped: "
                    f"{', '.join(have) or 'none'}) and not a file"
                )
            path = shipped
        if not path.is_file():
            raise DataError(f"dataset file {str(path)!r} does not exist")
        rows = []
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
        name = path.stem if path.parent == _shipped("x").parent else str(path)
        return Dataset(name=name, rows=_normalize(rows, str(path)), sha256=file_sha256(path))
    if isinstance(data, Sequence):
        rows_t = _normalize(data, "inline data")
        digest = hashlib.sha256(json.dumps(rows_t, sort_keys=True).encode()).hexdigest()
        return Dataset(name=f"inline:{digest[:12]}", rows=rows_t, sha256=digest)
    raise DataError(
        f"data= takes a shipped dataset name, a path to a JSONL file, or a list of prompts; got "
        f"{type(data).__name__}"
    )
