"""Datasets of prompts: a shipped name, a JSONL path, or a list given inline.

Every row is a dict with at least ``text`` (words, no bos); ``id`` is optional (``row-0007`` is
made up). Analyses ask for more fields where they need them (``answer``/``wrong`` for a logit
difference; ``wrong`` one word or a list of them) and say which row lacks them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import reprlib
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

    def words(self, key: str, *, analysis: str) -> list[str]:
        """``key`` on every row, each a non-empty string (an answer word, a corrupted prompt)."""
        values = self.field(key, analysis=analysis)
        for r, v in zip(self.rows, values, strict=True):
            if not isinstance(v, str) or not v.strip():
                self._bad(analysis, key, r, v, "a non-empty string",
                          f'write it as text, e.g. "{key}": "{v}"' if isinstance(v, (int, float))
                          and not isinstance(v, bool) else "give every row a string value")
        return values

    def word_lists(self, key: str, *, analysis: str) -> list[list[str]]:
        """``key`` on every row as a list of words: one non-empty string, or a non-empty list of
        them (the wrong answers a logit difference compares with)."""
        values = self.field(key, analysis=analysis)
        out = []
        for r, v in zip(self.rows, values, strict=True):
            words = [v] if isinstance(v, str) else v
            if (not isinstance(words, list) or not words
                    or not all(isinstance(w, str) and w.strip() for w in words)):
                self._bad(analysis, key, r, v, "a non-empty string or a non-empty list of them",
                          f'write e.g. "{key}": "sleep" or "{key}": ["sleep", "run"]')
            out.append(words)
        return out

    def indices(self, key: str, *, analysis: str) -> list[int]:
        """``key`` on every row, each an integer (a token position)."""
        values = self.field(key, analysis=analysis)
        for r, v in zip(self.rows, values, strict=True):
            if isinstance(v, bool) or not isinstance(v, int):
                self._bad(analysis, key, r, v, "an integer token position (bos = 0)",
                          "store one whole-number position per row")
        return values

    def labels(self, key: str, *, analysis: str) -> list[str]:
        """``key`` on every row as a class label: a string, an integer or a bool (a whole-number
        float counts as its integer); null, containers and fractional numbers are errors."""
        values = self.field(key, analysis=analysis)
        out = []
        for r, v in zip(self.rows, values, strict=True):
            if v is None:
                self._bad(analysis, key, r, v, "a class label, not null",
                          "label every row, or drop the unlabelled rows from the data")
            if isinstance(v, float) and not v.is_integer():
                self._bad(analysis, key, r, v, "a class label",
                          "the field looks continuous: a probe classifies, so bin the values "
                          "into classes first (e.g. 'low' / 'high')")
            if not isinstance(v, (str, int, float)):
                self._bad(analysis, key, r, v, "a class label (a string, integer or bool)",
                          "store one scalar label per row")
            out.append(str(int(v)) if isinstance(v, float) else str(v))
        return out

    def _bad(self, analysis: str, key: str, row: Mapping[str, Any], value: Any, expected: str,
             fix: str) -> None:
        raise DataError(
            f"{analysis}: field {key!r} of row {row['id']!r} in dataset {self.name!r} must be "
            f"{expected}, got {type(value).__name__} {_short(value)}; {fix}"
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "n": len(self.rows)}


def _shipped(name: str) -> Path:
    return fixtures_dir() / "data" / f"{name}.jsonl"


def _short(value: Any) -> str:
    return reprlib.repr(value)


def _normalize(rows: Sequence[Any], source: str, places: Sequence[str] | None = None
               ) -> tuple[Mapping[str, Any], ...]:
    """Rows as dicts with a unique string ``id``. ``places`` names each row in errors (``line 7``
    of a file); by default ``row i``."""
    out = []
    seen: dict[str, str] = {}
    for i, row in enumerate(rows):
        place = places[i] if places is not None else f"row {i}"
        if isinstance(row, str):
            row = {"text": row}
        if not isinstance(row, Mapping):
            hint = (" (a JSONL file holds one JSON object per line, not a JSON array)"
                    if places is not None and isinstance(row, list) else "")
            raise DataError(f"{source}: {place} must be a string or a dict with 'text', got "
                            f"{type(row).__name__} {_short(row)}{hint}")
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DataError(f"{source}: {place} has no non-empty 'text' field (got "
                            f"{_short(row.get('text'))}); every row needs its prompt as 'text'")
        row = dict(row)
        row.setdefault("id", f"row-{i:04d}")
        if isinstance(row["id"], bool) or not isinstance(row["id"], (str, int)):
            raise DataError(f"{source}: {place} has id {_short(row['id'])} "
                            f"({type(row['id']).__name__}); an id is a string or an integer — "
                            "give one, or leave the field out to number the rows")
        row_id = row["id"] = str(row["id"])
        if row_id in seen:
            raise DataError(f"{source}: id {row_id!r} appears twice ({seen[row_id]} and "
                            f"{place}); ids must be unique")
        seen[row_id] = place
        out.append(row)
    if not out:
        raise DataError(f"{source}: the dataset is empty")
    return tuple(out)


def _read_jsonl(path: Path) -> Dataset:
    """A dataset from a JSONL file: one JSON object per line, blank lines skipped."""
    rows, places = [], []
    try:
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(
                        f"{path}:{lineno}: not valid JSON ({e.msg}); a JSONL file holds one JSON "
                        'object per line, e.g. {"id": "p1", "text": "the wolf under the cat"}'
                    ) from e
                places.append(f"line {lineno}")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save the file "
                        "as UTF-8") from e
    name = path.stem if path.parent == _shipped("x").parent else str(path)
    return Dataset(name=name, rows=_normalize(rows, str(path), places), sha256=file_sha256(path))


def _no_dataset(data: str | Path) -> DataError:
    """The error of a name that is neither a shipped dataset nor a file."""
    shipped_dir = _shipped("x").parent
    have = sorted(p.stem for p in shipped_dir.glob("*.jsonl"))
    near = difflib.get_close_matches(str(data), have, n=1)
    hint = f" Did you mean {near[0]!r}?" if near else ""
    if " " in str(data).strip():
        hint += (" To give prompts inline, pass a list: data=[" + repr(str(data)) + ", ...].")
    return DataError(
        f"no dataset {str(data)!r}: not a shipped dataset (shipped: {', '.join(have) or 'none'}) "
        f"and not a file.{hint}"
    )


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
                raise _no_dataset(data)
            path = shipped
        if path.is_dir():
            raise DataError(f"dataset {str(path)!r} is a folder, not a file; give the path of a "
                            "JSONL file (one JSON object per line)")
        if not path.is_file():
            raise DataError(f"dataset file {str(path)!r} does not exist (looked for "
                            f"{path.resolve()}); check the path, or give a shipped dataset name")
        return _read_jsonl(path)
    if isinstance(data, Sequence) and not isinstance(data, (bytes, bytearray)):
        rows_t = _normalize(data, "inline data")
        digest = hashlib.sha256(json.dumps(rows_t, sort_keys=True).encode()).hexdigest()
        return Dataset(name=f"inline:{digest[:12]}", rows=rows_t, sha256=digest)
    hint = " (one dict: wrap it in a list, data=[{...}])" if isinstance(data, Mapping) else ""
    raise DataError(
        f"data= takes a shipped dataset name, a path to a JSONL file, or a list of prompts; got "
        f"{type(data).__name__}{hint}"
    )
