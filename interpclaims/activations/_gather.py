"""Reading the rows an analysis needs from a stored entry without holding the entry in memory.

An analysis rarely needs a whole ``[prompts, pos, ...]`` activation: a probe reads one position
per prompt. Indexing the read-only memory map directly (``entry[mask]``) touches a page for every
selected row, and the kernel maps the neighbouring pages of the page cache along with it
(fault-around), so the process's RSS grows to the size of the entry (about 1.1 GiB for a 1 GiB
entry). :func:`gather_rows` instead copies the entry chunk by chunk through
:func:`~interpclaims.activations._entry._stream`, which releases the mapped pages after each
chunk, and keeps only the selected rows: peak memory is one chunk plus the result. The values are
those of ``entry[mask]``, bit for bit. Numpy only, never torch.
"""

from __future__ import annotations

import numpy as np

from interpclaims.activations._entry import _stream

__all__ = ["CHUNK_BYTES", "gather_rows"]

CHUNK_BYTES = 8 << 20  # bytes of an entry copied (then released) per step


def gather_rows(array: np.ndarray, mask: np.ndarray, chunk_bytes: int = CHUNK_BYTES
                ) -> np.ndarray:
    """``array[mask]`` read chunk by chunk, the entry's pages released after each chunk.

    Args:
        array: ``[n, pos, ...]``, typically the memory map of a store entry.
        mask: ``[n, pos]`` bool, the rows wanted.
        chunk_bytes: how much of ``array`` is copied per step.

    Returns:
        ``[mask.sum(), ...]``, in row-major order of ``mask`` (prompt by prompt), a new array.

    Raises:
        ValueError: when ``mask`` is not a bool array of the first two dimensions of ``array``.
    """
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or array.ndim < 2 or mask.shape != array.shape[:2]:
        raise ValueError(f"gather_rows: the mask must be a bool array of shape "
                         f"{array.shape[:2]} (the entry's first two dimensions), got "
                         f"{mask.dtype} {mask.shape}")
    out = np.empty((int(mask.sum()), *array.shape[2:]), dtype=array.dtype)
    done = 0
    for start, chunk in _stream(array, chunk_bytes):
        picked = chunk[mask[start:start + chunk.shape[0]]]
        out[done:done + picked.shape[0]] = picked
        done += picked.shape[0]
    return out
