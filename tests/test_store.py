"""The content-addressed activation store: keys, round trips, modes, concurrency and damage."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from interpclaims.activations import (
    FORMAT_VERSION,
    ActivationStore,
    StoreKey,
    StoreStats,
    StoreWarning,
    tokens_digest,
)
from interpclaims.activations import _entry as entry_module

FIELDS = {
    "weights": "a" * 64,
    "backend": "tl",
    "dtype": "float32",
    "tokenizer": "b" * 64,
    "tokens": "c" * 64,
    "site": "L1.resid_post",
    "policy": "right-pad+bos",
}
KEY = StoreKey(**FIELDS)
# Pinned: a change here silently orphans every store on disk, so it must come with a bump of
# FORMAT_VERSION (and an update of this value).
GOLDEN_DIGEST = "3c68559cabdc3a87d37e65a8983af90a414ba942683126a09f1307048ad9ea61"

# Subprocesses import the activations package (no torch); `entry` holds the on-disk format's seams.
PRELUDE = textwrap.dedent(f"""
    import interpclaims.activations as m
    from interpclaims.activations import _entry as entry
    KEY = m.StoreKey(**{FIELDS!r})
""")


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def _files(root: Path) -> list[str]:
    """Every file under ``root`` except the lock folder, as sorted relative paths."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".locks" not in p.relative_to(root).parts
    )


@contextlib.contextmanager
def no_warnings() -> Iterator[None]:
    """Turn every warning into an error inside the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, value: np.ndarray) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.value.copy()


@pytest.fixture
def value() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((16, 7, 8)).astype(np.float32)


# ------------------------------------------------------------------------------------------ keys
@pytest.mark.parametrize("field", list(FIELDS))
def test_digest_changes_with_every_ingredient(field):
    changed = dataclasses.replace(KEY, **{field: FIELDS[field] + "x"})
    assert changed.digest() != KEY.digest()
    assert changed != KEY and hash(changed) != hash(KEY)


def test_digest_is_a_sha256_of_the_canonical_json_and_pinned():
    canonical = json.loads(KEY.canonical())
    assert canonical == {"format": FORMAT_VERSION, "key": FIELDS}
    digest = KEY.digest()
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == StoreKey(**dict(reversed(FIELDS.items()))).digest()
    assert StoreKey(**{k: v for k, v in FIELDS.items() if k != "policy"}).digest() == digest
    assert digest == GOLDEN_DIGEST, "the key digest changed: bump FORMAT_VERSION and this value"


def test_digest_is_stable_across_processes():
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = _finish(_python("print(KEY.digest())", env=env))
    assert out.strip() == KEY.digest()


@pytest.mark.parametrize("bad", ["", 3, None])
def test_key_fields_must_be_non_empty_strings(bad):
    with pytest.raises(TypeError, match="site"):
        StoreKey(**{**FIELDS, "site": bad})


def test_key_round_trips_through_json():
    assert StoreKey.from_json(json.loads(json.dumps(KEY.to_json()))) == KEY


def test_tokens_digest_covers_ids_and_lengths_not_their_dtype():
    ids = np.array([[1, 5, 7], [1, 9, 0]])
    base = tokens_digest(ids, [3, 2])
    assert tokens_digest(ids.astype(np.int32), np.array([3, 2], np.int16)) == base
    assert tokens_digest(np.asfortranarray(ids), [3, 2]) == base
    assert tokens_digest(ids, [3, 3]) != base  # a different padding policy
    assert tokens_digest(ids, None) != base
    assert tokens_digest(ids.reshape(3, 2), [3, 2]) != base  # same ids, another shape
    assert tokens_digest(np.array([[2, 5, 7], [1, 9, 0]]), [3, 2]) != base
    with pytest.raises(TypeError, match="integers"):
        tokens_digest(ids.astype(np.float32))


# ----------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(1).standard_normal((4, 5, 6)).astype(np.float32),
        np.random.default_rng(2).standard_normal((3, 2)).astype(np.float16),
        np.asfortranarray(np.arange(24, dtype=np.int64).reshape(4, 6)),
        np.arange(30, dtype=np.float64).reshape(5, 6)[:, ::2],  # not contiguous
        np.array(2.5),
        np.zeros((0, 8), np.float32),
        np.array([True, False, True]),
    ],
    ids=["f32", "f16", "fortran-i64", "strided", "0d", "empty", "bool"],
)
def test_put_get_round_trip_is_exact(tmp_path, array):
    stored = ActivationStore(tmp_path).put(KEY, array)
    got = ActivationStore(tmp_path).get(KEY)  # a fresh store: nothing cached in memory
    for arr in (stored, got):
        assert arr is not None
        assert arr.dtype == array.dtype and arr.shape == array.shape
        assert np.array_equal(arr, array)


def test_get_returns_a_read_only_memmap_of_the_entry(tmp_path, value):
    store = ActivationStore(tmp_path)
    store.put(KEY, value)
    got = ActivationStore(tmp_path).get(KEY)
    data_path, side_path = store.paths(KEY)
    assert isinstance(got, np.memmap)
    assert Path(got.filename).resolve() == data_path.resolve()  # backed by the file, not RAM
    assert not got.flags.writeable
    with pytest.raises(ValueError):
        got[0, 0, 0] = 1.0
    assert data_path == tmp_path / KEY.digest()[:2] / f"{KEY.digest()}.npy"
    side = json.loads(side_path.read_text())
    assert side["key"] == FIELDS and side["digest"] == KEY.digest()
    assert side["shape"] == list(value.shape) and side["nbytes"] == value.nbytes
    assert side["checksum"].startswith("crc32:")
    assert np.array_equal(np.load(data_path), value)  # a plain .npy file


def test_miss_returns_none_and_counts(tmp_path):
    store = ActivationStore(tmp_path / "absent")
    assert store.get(KEY) is None
    assert KEY not in store
    assert store.stats == StoreStats(misses=1)
    assert not (tmp_path / "absent").exists()


def test_replacing_an_entry_keeps_old_readers_valid(tmp_path, value):
    store = ActivationStore(tmp_path)
    old = store.put(KEY, value)
    new = store.put(KEY, value * 2)
    assert np.array_equal(old, value)  # the old mapping still sees the old file
    assert np.array_equal(new, value * 2)
    assert np.array_equal(ActivationStore(tmp_path).get(KEY), value * 2)
    assert len(_files(tmp_path)) == 2


def test_put_rejects_object_arrays(tmp_path):
    with pytest.raises(TypeError, match="object"):
        ActivationStore(tmp_path).put(KEY, np.array([object()]))


@pytest.mark.parametrize("array", [
    np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]),
    np.zeros(3, dtype="V4"),
    np.array(["ab", "c"]),
    np.array(["2024-01-01"], dtype="datetime64[D]"),
], ids=["structured", "void", "str", "datetime"])
@pytest.mark.parametrize("mode", ["rw", "read", "off"])
def test_only_plain_numeric_dtypes_are_stored(tmp_path, array, mode):
    store = ActivationStore(tmp_path, mode=mode)
    with pytest.raises(TypeError, match="plain numeric"):
        store.put(KEY, array)
    with pytest.raises(TypeError, match="plain numeric"):
        store.get_or_compute(KEY, lambda: array)
    assert ActivationStore(tmp_path).digests() == []


def test_a_big_endian_array_is_stored_in_native_byte_order(tmp_path):
    array = np.arange(12, dtype=">f4").reshape(3, 4)
    stored = ActivationStore(tmp_path).put(KEY, array)
    got = ActivationStore(tmp_path).get(KEY)
    for arr in (stored, got):
        assert arr is not None and arr.dtype == np.dtype("=f4") and arr.dtype.isnative
        assert np.array_equal(arr, array)


def test_unknown_mode_or_verify_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        ActivationStore(tmp_path, mode="write")
    with pytest.raises(ValueError, match="verify"):
        ActivationStore(tmp_path, verify="sometimes")


# -------------------------------------------------------------------------------------- compute
def test_get_or_compute_computes_once_then_hits(tmp_path, value):
    store = ActivationStore(tmp_path)
    compute = Counter(value)
    first = store.get_or_compute(KEY, compute)
    second = store.get_or_compute(KEY, compute)
    third = ActivationStore(tmp_path).get_or_compute(KEY, compute)
    assert compute.calls == 1
    for arr in (first, second, third):
        assert isinstance(arr, np.memmap) and np.array_equal(arr, value)
    assert store.stats.to_json() == {"hits": 1, "misses": 1, "writes": 1, "corrupt": 0}
    assert store.digests() == [KEY.digest()]


def test_mode_off_always_computes_and_never_touches_disk(tmp_path, value):
    root = tmp_path / "store"
    store = ActivationStore(root, mode="off")
    compute = Counter(value)
    for _ in range(3):
        arr = store.get_or_compute(KEY, compute)
        assert np.array_equal(arr, value) and not arr.flags.writeable
    assert compute.calls == 3
    assert np.array_equal(store.put(KEY, value), value)
    assert store.get(KEY) is None
    assert store.clear() == 0
    assert not root.exists()
    # an existing store is not read either
    ActivationStore(root).put(KEY, value)
    assert ActivationStore(root, mode="off").get(KEY) is None
    assert store.digests() == []


def test_mode_read_reads_but_never_writes(tmp_path, value):
    other = dataclasses.replace(KEY, site="L0.resid_post")
    ActivationStore(tmp_path).put(KEY, value)
    before = _files(tmp_path)
    store = ActivationStore(tmp_path, mode="read")
    compute = Counter(value + 1)
    assert np.array_equal(store.get_or_compute(KEY, compute), value)  # a hit
    assert compute.calls == 0
    for _ in range(2):  # a miss computes every time: nothing is written
        assert np.array_equal(store.get_or_compute(other, compute), value + 1)
    assert compute.calls == 2
    store.put(other, value)
    assert store.clear() == 0
    assert _files(tmp_path) == before
    assert store.stats.writes == 0 and store.stats.hits == 1 and store.stats.misses == 2


def test_get_or_compute_many_computes_only_the_missing_keys_in_one_call(tmp_path):
    keys = [dataclasses.replace(KEY, site=f"L{i}.resid_post") for i in range(4)]
    values = {k: np.full((3, 2), i, np.float32) for i, k in enumerate(keys)}
    store = ActivationStore(tmp_path)
    store.put(keys[1], values[keys[1]])
    calls: list[list[StoreKey]] = []

    def compute(missing: list[StoreKey]) -> dict[StoreKey, np.ndarray]:
        calls.append(missing)
        return {k: values[k] for k in keys}  # extra keys are ignored

    asked = [keys[3], keys[0], keys[1], keys[3], keys[2]]
    out = store.get_or_compute_many(asked, compute)
    assert calls == [[keys[3], keys[0], keys[2]]]  # once, missing only, in order, no duplicates
    assert list(out) == [keys[3], keys[0], keys[1], keys[2]]
    assert all(np.array_equal(out[k], values[k]) for k in keys)
    assert store.digests() == sorted(k.digest() for k in keys)
    out = store.get_or_compute_many(keys, compute)
    assert len(calls) == 1
    assert store.stats.hits == 1 + 4 and store.stats.misses == 3


def test_compute_that_omits_a_key_raises_and_stores_nothing(tmp_path, value):
    other = dataclasses.replace(KEY, site="L0.resid_post")
    store = ActivationStore(tmp_path)
    with pytest.raises(KeyError, match=r"L0\.resid_post"):
        store.get_or_compute_many([KEY, other], lambda missing: {KEY: value})
    assert store.digests() == []


def test_a_failing_compute_releases_the_lock(tmp_path, value):
    store = ActivationStore(tmp_path, lock_timeout=5)

    def boom() -> np.ndarray:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        store.get_or_compute(KEY, boom)
    compute = Counter(value)
    assert np.array_equal(ActivationStore(tmp_path, lock_timeout=5).get_or_compute(KEY, compute),
                          value)
    assert compute.calls == 1


def test_a_failing_write_is_reported_and_the_result_still_returned(tmp_path, value, monkeypatch):
    def disk_full(f, arr):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(entry_module, "_write_npy", disk_full)
    store = ActivationStore(tmp_path)
    with pytest.warns(StoreWarning, match="could not store"):
        arr = store.get_or_compute(KEY, Counter(value))
    assert np.array_equal(arr, value)
    assert _files(tmp_path) == []  # the temp file is gone too


def test_an_unusable_root_degrades_to_computing(tmp_path, value):
    (tmp_path / "file").write_text("not a folder")
    store = ActivationStore(tmp_path / "file" / "store")
    compute = Counter(value)
    assert store.get(KEY) is None
    with pytest.warns(StoreWarning, match="computing without caching"):
        arr = store.get_or_compute(KEY, compute)
    assert np.array_equal(arr, value) and compute.calls == 1
    with pytest.raises(OSError):
        store.put(KEY, value)  # an explicit write says why it failed
    assert store.clear() == 0


# ---------------------------------------------------------------------------------- concurrency
WORKER = """
    import hashlib, json, os, sys, time
    import numpy as np
    root, counter, me, other, sites = sys.argv[1:6]
    sites = sites.split(",")
    keys = [m.StoreKey(**{**KEY.to_json(), "site": s}) for s in sites]
    store = m.ActivationStore(root, lock_timeout=30)
    open(me, "w").close()
    deadline = time.time() + 30
    while not os.path.exists(other) and time.time() < deadline:  # start together
        time.sleep(0.005)

    def value(key):
        return np.arange(20_000, dtype=np.float32) * (1 + len(key.site))

    def compute_many(missing):
        with open(counter, "a") as f:
            f.write(" ".join(k.site for k in missing) + "\\n")
        time.sleep(0.5)
        return {k: value(k) for k in missing}

    if len(keys) == 1:
        out = {keys[0]: store.get_or_compute(keys[0], lambda: compute_many(keys)[keys[0]])}
    else:
        out = store.get_or_compute_many(keys, compute_many)
    print(json.dumps({
        "ok": all(np.array_equal(out[k], value(k)) for k in keys),
        "memmap": all(isinstance(a, np.memmap) for a in out.values()),
        "sha": {k.site: hashlib.sha256(np.asarray(out[k]).tobytes()).hexdigest() for k in keys},
        "stats": store.stats.to_json(),
    }))
"""


def _race(tmp_path: Path, sites_a: str, sites_b: str) -> tuple[list[dict], list[str]]:
    root, counter = tmp_path / "store", tmp_path / "counter.txt"
    a, b = str(tmp_path / "a.ready"), str(tmp_path / "b.ready")
    procs = [
        _python(WORKER, str(root), str(counter), a, b, sites_a),
        _python(WORKER, str(root), str(counter), b, a, sites_b),
    ]
    results = [json.loads(_finish(p).strip().splitlines()[-1]) for p in procs]
    return results, counter.read_text().splitlines()


def test_concurrent_processes_compute_a_key_exactly_once(tmp_path):
    results, computed = _race(tmp_path, "L1.resid_post", "L1.resid_post")
    assert computed == ["L1.resid_post"]  # exactly one process computed
    assert all(r["ok"] and r["memmap"] for r in results)
    assert results[0]["sha"] == results[1]["sha"]
    assert sorted(r["stats"]["writes"] for r in results) == [0, 1]
    assert sorted(r["stats"]["hits"] for r in results) == [0, 1]
    assert len(_files(tmp_path / "store")) == 2  # one entry: its .npy and its .json


def test_concurrent_overlapping_batches_do_not_deadlock_or_compute_twice(tmp_path):
    results, computed = _race(tmp_path, "L0.x,L1.x,L2.x", "L2.x,L1.x,L3.x")
    sites = [s for line in computed for s in line.split()]
    assert sorted(sites) == ["L0.x", "L1.x", "L2.x", "L3.x"]  # each computed once
    assert all(r["ok"] and r["memmap"] for r in results)
    for site in ("L1.x", "L2.x"):
        assert results[0]["sha"][site] == results[1]["sha"][site]
    assert len(_files(tmp_path / "store")) == 8


# --------------------------------------------------------------------------------------- damage
def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def _truncate(data: Path, side: Path) -> None:
    os.truncate(data, data.stat().st_size - 10)


def _empty_data(data: Path, side: Path) -> None:
    data.write_bytes(b"")


def _flip_data(data: Path, side: Path) -> None:
    _flip(data, data.stat().st_size - 7)


def _flip_header(data: Path, side: Path) -> None:
    _flip(data, 30)  # inside the .npy header dict


def _delete_sidecar(data: Path, side: Path) -> None:
    side.unlink()  # what a writer killed between its two renames leaves


def _garble_sidecar(data: Path, side: Path) -> None:
    side.write_text("{not json")


def _truncate_sidecar(data: Path, side: Path) -> None:
    side.write_text(side.read_text()[:40])


def _foreign_sidecar(data: Path, side: Path) -> None:
    meta = json.loads(side.read_text())
    meta["key"]["site"] = "L9.resid_post"  # a sidecar that belongs to another key
    side.write_text(json.dumps(meta))


def _edit_sidecar(side: Path, *, resign: bool, **changes: object) -> None:
    """Change fields of a sidecar; with ``resign``, recompute its own checksum (a CRC-32 of the
    canonical JSON of every other field), so that only the deeper checks can catch the change."""
    meta = json.loads(side.read_text())
    meta.update(changes)
    if resign:
        body = {k: v for k, v in meta.items() if k != "sidecar_checksum"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        meta["sidecar_checksum"] = f"crc32:{zlib.crc32(canonical.encode()):08x}"
    side.write_text(json.dumps(meta))


def _lying_sidecar(data: Path, side: Path) -> None:
    _edit_sidecar(side, resign=False, checksum="crc32:00000000")


def _resigned_lying_sidecar(data: Path, side: Path) -> None:
    _edit_sidecar(side, resign=True, checksum="crc32:00000000")


def _swapped_shape(data: Path, side: Path) -> None:
    _edit_sidecar(side, resign=False, shape=[7, 16, 8])  # the same size, another shape


def _resigned_swapped_shape(data: Path, side: Path) -> None:
    _edit_sidecar(side, resign=True, shape=[7, 16, 8])


def _resigned_object_dtype(data: Path, side: Path) -> None:
    # self-consistent: 16 * 7 * 4 pointers of 8 bytes fill the same bytes as the float32 array
    _edit_sidecar(side, resign=True, dtype="|O", shape=[16, 7, 4])


def _resigned_void_dtype(data: Path, side: Path) -> None:
    _edit_sidecar(side, resign=True, dtype="|V4")


def _resigned_structured_dtype(data: Path, side: Path) -> None:
    _edit_sidecar(side, resign=True, dtype=[["a", "<f4"]])


def _resigned_byte_order_flip(data: Path, side: Path) -> None:
    _edit_sidecar(side, resign=True, dtype=">f4")


def _resigned_foreign_field(data: Path, side: Path) -> None:
    _edit_sidecar(side, resign=True, pickle="yes")


def _delete_data(data: Path, side: Path) -> None:
    data.unlink()


# damage -> (how, the file the warning names, the problem it states)
DAMAGE: dict[str, tuple[Callable[[Path, Path], None], str, str]] = {
    "truncated data": (_truncate, "npy", "size"),
    "empty data": (_empty_data, "npy", "size"),
    "flipped data byte": (_flip_data, "npy", "checksum"),
    "flipped header byte": (_flip_header, "npy", "checksum"),
    "data without sidecar": (_delete_sidecar, "npy", "data without sidecar"),
    "garbled sidecar": (_garble_sidecar, "json", "unparsable sidecar"),
    "truncated sidecar": (_truncate_sidecar, "json", "unparsable sidecar"),
    "sidecar of another key": (_foreign_sidecar, "json", "sidecar checksum"),
    "wrong checksum in sidecar": (_lying_sidecar, "json", "sidecar checksum"),
    "re-signed wrong checksum": (_resigned_lying_sidecar, "npy", r"checksum crc32:\w+ != "),
    "swapped shape": (_swapped_shape, "json", "sidecar checksum"),
    "re-signed swapped shape": (_resigned_swapped_shape, "json", r"header.*shape \(7, 16, 8\)"),
    "re-signed object dtype": (_resigned_object_dtype, "json", r"dtype '\|O' is not a plain"),
    "re-signed void dtype": (_resigned_void_dtype, "json", r"dtype '\|V4' is not a plain"),
    "re-signed structured dtype": (_resigned_structured_dtype, "json", "not a plain"),
    "re-signed byte-order flip": (_resigned_byte_order_flip, "json", "native byte order"),
    "re-signed unknown field": (_resigned_foreign_field, "json", "fields of format"),
    "sidecar without data": (_delete_data, "json", "sidecar without data"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_entries_are_reported_deleted_and_rebuilt(tmp_path, value, damage):
    harm, named, problem = DAMAGE[damage]
    ActivationStore(tmp_path).put(KEY, value)
    store = ActivationStore(tmp_path)
    data_path, side_path = store.paths(KEY)
    harm(data_path, side_path)
    reported = data_path if named == "npy" else side_path
    with pytest.warns(StoreWarning, match=re.escape(reported.name)) as record:
        assert store.get(KEY) is None
    assert len(record) == 1
    assert re.search(problem, str(record[0].message)), str(record[0].message)
    assert "deleted" in str(record[0].message)
    assert not data_path.exists() and not side_path.exists()
    assert store.stats.corrupt == 1 and store.stats.misses == 1

    harm_again = ActivationStore(tmp_path)
    harm_again.put(KEY, value)
    harm(data_path, side_path)
    compute = Counter(value)
    with pytest.warns(StoreWarning, match=re.escape(reported.name)):
        rebuilt = harm_again.get_or_compute(KEY, compute)
    assert compute.calls == 1
    assert np.array_equal(rebuilt, value)
    with no_warnings():
        again = ActivationStore(tmp_path, verify="always").get(KEY)
    assert again is not None and np.array_equal(again, value)


def test_damage_in_read_mode_is_reported_and_left_alone(tmp_path, value):
    ActivationStore(tmp_path).put(KEY, value)
    store = ActivationStore(tmp_path, mode="read")
    data_path, side_path = store.paths(KEY)
    _flip_data(data_path, side_path)
    before = _files(tmp_path)
    compute = Counter(value)
    with pytest.warns(StoreWarning, match="ignored"):
        arr = store.get_or_compute(KEY, compute)
    assert compute.calls == 1 and np.array_equal(arr, value)
    assert _files(tmp_path) == before


def test_read_mode_reports_and_counts_a_damaged_entry_once(tmp_path, value):
    ActivationStore(tmp_path).put(KEY, value)
    store = ActivationStore(tmp_path, mode="read")
    data_path, side_path = store.paths(KEY)
    _flip_data(data_path, side_path)
    compute = Counter(value)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(12):
            assert store.get(KEY) is None
            assert np.array_equal(store.get_or_compute(KEY, compute), value)
    assert [type(w.message) for w in record] == [StoreWarning]
    assert "reported once" in str(record[0].message)
    assert store.stats == StoreStats(hits=0, misses=24, writes=0, corrupt=1)
    assert compute.calls == 12

    ActivationStore(tmp_path).put(KEY, value)  # repaired by another process: read afresh
    with no_warnings():
        got = store.get(KEY)
    assert got is not None and np.array_equal(got, value)
    _flip_data(data_path, side_path)  # damaged again: a new event, reported again
    with pytest.warns(StoreWarning, match="checksum"):
        assert store.get(KEY) is None
    assert store.stats.corrupt == 2


def test_verify_once_rechecks_a_file_that_changed(tmp_path, value):
    store = ActivationStore(tmp_path)  # verify="once"
    store.put(KEY, value)
    assert store.get(KEY) is not None
    data_path, side_path = store.paths(KEY)
    st = data_path.stat()
    _flip_data(data_path, side_path)
    os.utime(data_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a coarse clock
    with pytest.warns(StoreWarning, match="checksum"):
        assert store.get(KEY) is None


def test_damage_seen_while_another_process_holds_the_key_is_a_silent_miss(tmp_path, value):
    """A writer between its two renames looks like data without a sidecar: leave it be."""
    from filelock import FileLock

    store = ActivationStore(tmp_path)
    store.put(KEY, value)
    data_path, side_path = store.paths(KEY)
    side_path.unlink()
    writer = FileLock(tmp_path / ".locks" / f"{KEY.digest()}.lock")
    writer.acquire(timeout=5)
    try:
        with no_warnings():
            assert store.get(KEY) is None
        assert data_path.exists()
    finally:
        writer.release()
    with pytest.warns(StoreWarning, match="data without sidecar"):
        assert store.get(KEY) is None
    assert not data_path.exists()


KILLED_WRITER = """
    import sys, time
    import numpy as np
    root, ready = sys.argv[1:3]
    real_write = entry._write_npy

    def write_half_then_hang(f, arr):
        real_write(f, arr[: arr.size // 2])  # a plausible-looking, partial .npy
        f.flush()
        open(ready, "w").close()
        time.sleep(60)

    entry._write_npy = write_half_then_hang
    m.ActivationStore(root).put(KEY, np.ones(500_000, np.float32))
"""


def test_a_writer_killed_mid_write_leaves_no_visible_entry_and_its_temp_file_goes(
        tmp_path, value):
    root, ready = tmp_path / "store", tmp_path / "ready"
    other = dataclasses.replace(KEY, site="L0.resid_post")
    proc = _python(KILLED_WRITER, str(root), str(ready))
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.01)
        temp = _files(root)
        assert len(temp) == 1 and temp[0].endswith(".npy.tmp")  # only its temp file
        assert f".{proc.pid}." in temp[0]  # named after its writer
        # a live writer's temp file survives another store's first write and a clear
        with no_warnings():
            ActivationStore(root).put(other, value)
            assert ActivationStore(root).clear() == 1
        assert _files(root) == temp
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert _files(root) == temp

    store = ActivationStore(root, lock_timeout=5)  # the dead writer's lock is gone with it
    compute = Counter(value)
    with no_warnings():
        assert store.get(KEY) is None
        assert KEY not in store and store.digests() == []
        assert _files(root) == temp  # reading removes nothing
        assert np.array_equal(store.get_or_compute(KEY, compute), value)
    assert compute.calls == 1
    assert [Path(f).suffix for f in _files(root)] == [".json", ".npy"]  # the write swept it
    assert store.clear() == 1
    assert _files(root) == []


def test_clear_removes_the_temp_files_of_dead_writers_at_once(tmp_path, value):
    store = ActivationStore(tmp_path)
    store.put(KEY, value)
    shard = store.paths(KEY)[0].parent
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True, timeout=60)
    names = {
        "dead": f".{KEY.digest()}.{host}.{int(dead.stdout)}.0a1b.npy.tmp",
        "live": f".{KEY.digest()}.{host}.{os.getpid()}.0a1b.json.tmp",
        "other host, young": f".{KEY.digest()}.elsewhere.{int(dead.stdout)}.0a1b.npy.tmp",
        "other host, old": f".{KEY.digest()}.elsewhere.{int(dead.stdout)}.0a1c.npy.tmp",
        "old name, old": f".{KEY.digest()}.{int(dead.stdout)}.0a1d.npy.tmp",
    }
    for label, name in names.items():
        (shard / name).write_bytes(b"partial")
        if label.endswith("old"):
            hour_ago = time.time() - 3700
            os.utime(shard / name, (hour_ago, hour_ago))
    assert store.clear() == 1
    left = sorted(p.name for p in shard.iterdir())
    assert left == sorted([names["live"], names["other host, young"]])


# ---------------------------------------------------------------------------------------- clear
def test_clear_removes_everything(tmp_path, value):
    store = ActivationStore(tmp_path)
    keys = [dataclasses.replace(KEY, site=f"L{i}.resid_post") for i in range(5)]
    for key in keys:
        store.put(key, value)
    store.paths(keys[0])[1].unlink()  # an orphan data file counts too
    stale = store.paths(keys[1])[0].parent / f".{keys[1].digest()}.1.abcd.npy.tmp"
    stale.write_bytes(b"partial")
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))
    assert store.clear() == 5
    assert _files(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == [".locks"]
    assert all(store.get(key) is None for key in keys)
    assert store.digests() == []
    assert store.clear() == 0


# --------------------------------------------------------------------------------------- import
def test_the_store_does_not_import_torch():
    code = (
        "import sys, interpclaims.activations; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_stream_yields_every_row_in_chunks_and_releases_pages(tmp_path):
    store = ActivationStore(tmp_path)
    arr = np.arange(4000 * 64, dtype=np.float32).reshape(4000, 64)
    stored = store.put(StoreKey(weights="w", backend="tl", dtype="float32", tokenizer="t",
                                tokens="x", site="L0.resid_post"), arr)
    starts, parts = zip(*ActivationStore.stream(stored, chunk_bytes=64 * 4 * 1000), strict=True)
    assert starts == (0, 1000, 2000, 3000)
    assert all(p.shape == (1000, 64) for p in parts)
    np.testing.assert_array_equal(np.concatenate(parts), arr)
    # a plain (not memory-mapped) array is sliced the same way
    assert [s for s, _ in ActivationStore.stream(arr, chunk_bytes=64 * 4 * 1500)] == [0, 1500, 3000]
