"""Datasets: inline lists, JSONL files, shipped names, and the errors that name what is wrong."""

from __future__ import annotations

import hashlib
import json

import pytest

from interpclaims._data import Dataset, load_data
from interpclaims._errors import DataError, InterpClaimsError


def write_jsonl(path, rows, *, extra_lines=()):
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def fixtures(tmp_path, monkeypatch):
    """An INTERPCLAIMS_FIXTURES folder with two shipped datasets."""
    root = tmp_path / "fixtures"
    (root / "data").mkdir(parents=True)
    write_jsonl(root / "data" / "agreement.jsonl",
                [{"id": "a1", "text": "the dog runs"}, {"id": "a2", "text": "the dogs run"}])
    write_jsonl(root / "data" / "induction.jsonl", [{"text": "A B C A B"}])
    monkeypatch.setenv("INTERPCLAIMS_FIXTURES", str(root))
    return root


# -- inline ----------------------------------------------------------------------------------------


def test_list_of_strings():
    ds = load_data(["the cat sat", "a dog ran"])
    assert isinstance(ds, Dataset)
    assert ds.texts == ["the cat sat", "a dog ran"]
    assert ds.ids == ["row-0000", "row-0001"]
    assert ds.rows[0] == {"text": "the cat sat", "id": "row-0000"}
    assert ds.name.startswith("inline:")
    assert len(ds.sha256) == 64
    assert ds.name == f"inline:{ds.sha256[:12]}"


def test_list_of_dicts_keeps_fields_and_stringifies_ids():
    rows = [{"id": 7, "text": "x y", "answer": " y"}, {"text": "p q", "answer": " q"}]
    ds = load_data(rows)
    assert ds.ids == ["7", "row-0001"]
    assert ds.field("answer", analysis="logit_diff") == [" y", " q"]
    # the input is not mutated
    assert rows[0]["id"] == 7 and "id" not in rows[1]


def test_inline_hash_is_content_addressed():
    a = load_data(["one", "two"])
    assert load_data(["one", "two"]).sha256 == a.sha256
    assert load_data(["one", "three"]).sha256 != a.sha256
    assert load_data(["two", "one"]).sha256 != a.sha256


def test_strings_and_equivalent_dicts_hash_alike():
    assert load_data(["a b"]).sha256 == load_data([{"text": "a b"}]).sha256


def test_dataset_passes_through():
    ds = load_data(["x"])
    assert load_data(ds) is ds


def test_to_json():
    ds = load_data(["x", "y", "z"])
    assert ds.to_json() == {"name": ds.name, "sha256": ds.sha256, "n": 3}


# -- files -----------------------------------------------------------------------------------------


def test_jsonl_file(tmp_path):
    path = write_jsonl(tmp_path / "prompts.jsonl",
                       [{"id": "p1", "text": "hello there"}, {"text": "general kenobi"}],
                       extra_lines=["", "   "])
    ds = load_data(path)
    assert ds.texts == ["hello there", "general kenobi"]
    assert ds.ids == ["p1", "row-0001"]
    assert ds.name == str(path)
    assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_data(str(path)).rows == ds.rows


def test_jsonl_file_with_blank_lines_in_between(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n', encoding="utf-8")
    assert load_data(path).texts == ["a", "b"]


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataError) as info:
        load_data(missing)
    msg = str(info.value)
    assert str(missing) in msg
    assert "does not exist" in msg


def test_bad_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": "broken"\n{"text": "fine"}\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_data(path)
    assert f"{path}:3:" in str(info.value)
    assert "not valid JSON" in str(info.value)


def test_data_error_is_an_interpclaims_error_and_value_error(tmp_path):
    with pytest.raises(InterpClaimsError):
        load_data(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError):
        load_data(tmp_path / "nope.jsonl")


# -- shipped names ---------------------------------------------------------------------------------


def test_shipped_name(fixtures):
    ds = load_data("agreement")
    assert ds.name == "agreement"
    assert ds.ids == ["a1", "a2"]
    assert ds.texts == ["the dog runs", "the dogs run"]
    assert ds.sha256 == hashlib.sha256(
        (fixtures / "data" / "agreement.jsonl").read_bytes()).hexdigest()


def test_unknown_shipped_name_lists_shipped_datasets(fixtures):
    with pytest.raises(DataError) as info:
        load_data("agreemnet")
    msg = str(info.value)
    assert "'agreemnet'" in msg
    assert "agreement, induction" in msg
    assert "not a file" in msg


def test_unknown_shipped_name_without_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERPCLAIMS_FIXTURES", str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"shipped: none"):
        load_data("agreement")


# -- row validation --------------------------------------------------------------------------------


def test_duplicate_ids(tmp_path):
    with pytest.raises(DataError, match=r"id 'x' appears twice"):
        load_data([{"id": "x", "text": "a"}, {"id": "x", "text": "b"}])
    path = write_jsonl(tmp_path / "dup.jsonl", [{"id": 1, "text": "a"}, {"id": "1", "text": "b"}])
    with pytest.raises(DataError) as info:
        load_data(path)
    assert "appears twice" in str(info.value)
    assert str(path) in str(info.value)


def test_empty_dataset(tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_data([])
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load_data(path)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([{"id": "a"}], "row 0 has no non-empty 'text'"),
        (["ok", {"text": "   "}], "row 1 has no non-empty 'text'"),
        (["ok", {"text": 3}], "row 1 has no non-empty 'text'"),
        (["ok", "fine", 5], "row 2 must be a string or a dict"),
        ([""], "row 0 has no non-empty 'text'"),
    ],
)
def test_bad_rows_are_named(rows, match):
    with pytest.raises(DataError, match=match):
        load_data(rows)


@pytest.mark.parametrize("bad", [3, 2.5, None, {"text": "a"}])
def test_unsupported_spec_type(bad):
    with pytest.raises(DataError, match="data= takes"):
        load_data(bad)


def test_field_missing_key_names_the_row_id():
    ds = load_data([{"id": "p1", "text": "a", "answer": "x"},
                    {"id": "p2", "text": "b"}])
    with pytest.raises(DataError) as info:
        ds.field("answer", analysis="logit_diff")
    msg = str(info.value)
    assert "logit_diff" in msg
    assert "'answer'" in msg
    assert "'p2'" in msg
    assert "'p1'" not in msg
    assert ds.name in msg
    assert "['id', 'text']" in msg
