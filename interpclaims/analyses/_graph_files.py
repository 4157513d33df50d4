"""The on-disk form of attribution graphs, without pickle: ``graphs.json`` (metadata, one entry
per graph) and ``graphs.npz`` (every array, read back with ``allow_pickle=False``).

circuit-tracer's own ``Graph.to_pt`` / ``from_pt`` use pickle, which runs code on load; this format
holds only numbers and JSON, and is the same whichever backend built the graphs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpclaims._errors import InterpClaimsError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FORMAT", "read_graph_files", "write_graph_files"]

FORMAT = "interpclaims.attribution_graphs/1"
_META = "graphs.json"
_ARRAYS = "graphs.npz"


def write_graph_files(folder: str | Path, meta: dict[str, Any], arrays: dict[str, Any]) -> Path:
    """Write ``meta`` (JSON-safe) and ``arrays`` into ``folder`` (created); returns it."""
    import numpy as np

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / _ARRAYS, "wb") as f:
        np.savez_compressed(f, **arrays)
    (out / _META).write_text(json.dumps({"format": FORMAT, **meta}, indent=1, sort_keys=True),
                             encoding="utf-8")
    return out


def read_graph_files(folder: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` as written by :func:`write_graph_files`; a clear error otherwise."""
    __tracebackhide__ = True
    import numpy as np

    src = Path(folder)
    missing = [n for n in (_META, _ARRAYS) if not (src / n).is_file()]
    if missing:
        raise InterpClaimsError(f"{src} holds no saved attribution graphs (missing "
                                f"{', '.join(missing)}); save them with graphs.save(folder)")
    try:
        meta = json.loads((src / _META).read_text(encoding="utf-8"))
        with np.load(src / _ARRAYS, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise InterpClaimsError(f"could not read the attribution graphs in {src}: {e}; save "
                                "them again with graphs.save(folder)") from e
    if meta.get("format") != FORMAT:
        raise InterpClaimsError(f"{src / _META} has format {meta.get('format')!r}, expected "
                                f"{FORMAT!r}; save the graphs again with this version")
    return meta, arrays
