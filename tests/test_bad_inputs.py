"""A catalogue of bad inputs: each gets a clear error, never silence nor a third-party traceback.

Every case names a call that a user could write by mistake, the error type it must raise, and
the regexes its message must match: what is wrong, where (claim, site, row, option, file) and how
to fix it. Every error must be an :class:`interpclaims.InterpClaimsError` raised by interpclaims
itself (its innermost frame inside the package, not inside torch, transformers or numpy), and a
failed call must leave no hook on the model. The cases run in-process on the zoo model already
loaded by ``zoo_models``; options and markers go through pytester in ``test_bad_inputs_plugin.py``.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import interpclaims as ic
from interpclaims import _context
from interpclaims._context import ClaimContext
from interpclaims._data import fixtures_dir, load_data
from interpclaims._estimate import estimate_from_samples
from interpclaims.models import ModelRegistry
from interpclaims.verdicts import Claim

PACKAGE = Path(ic.__file__).resolve().parent
ZOO_FOLDER = fixtures_dir() / "models" / "agreement"


@dataclass
class Env:
    """What the cases call into: the zoo model, small datasets, results to misuse, bad files."""

    model: Any
    rows: list[dict[str, Any]]
    tmp: Path
    matrix: Any  # an EstimateMatrix (patch_heads, method="exact")
    atp: Any  # an AttributionSweep (patch_heads)
    vec: Any  # a steering vector [d_model]
    est: ic.Estimate
    probe: ic.ProbeResult
    steering: ic.SteeringResult

    def edit(self, **fields: Any) -> list[dict[str, Any]]:
        """The rows with ``fields`` replaced (a callable gets the row index and the row)."""
        return [{**r, **{k: v(i, r) if callable(v) else v for k, v in fields.items()}}
                for i, r in enumerate(self.rows)]

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def folder(self, name: str, drop: tuple[str, ...] = (),
               edit: Callable[[Path], None] | None = None) -> str:
        """A copy of the zoo model's folder with files dropped or edited."""
        path = self.tmp / "models" / name
        if not path.exists():
            shutil.copytree(ZOO_FOLDER, path)
            for f in drop:
                (path / f).unlink()
            if edit is not None:
                edit(path)
        return str(path)

    def claim(self) -> Any:
        return Claim(lambda result: None)


@pytest.fixture(scope="module")
def env(zoo_models, tmp_path_factory) -> Env:
    model = zoo_models["zoo/agreement", "tl"]
    rows = [dict(r) for r in load_data("agreement").rows[:40]]
    with _context.use(ClaimContext(n_resamples=200)):
        vec = ic.mean_difference(model, "L0.resid_post", rows, "number", "singular", "plural",
                                 position="subject_pos")
        return Env(
            model=model, rows=rows, tmp=tmp_path_factory.mktemp("bad"),
            matrix=ic.patch_heads(model, rows, metric="logit_diff", method="exact"), vec=vec,
            atp=ic.patch_heads(model, rows, metric="logit_diff"),
            est=ic.measure(model, rows),
            probe=ic.probe(model, "L1.resid_post", "number", rows),
            steering=ic.steer(model, "L0.resid_post", vec, rows, strengths=[2.0],
                              side_data=load_data("random_tokens").rows[:20]),
        )


CASES: list[Any] = []


def bad(id: str, call: Callable[[Env], Any], error: type[BaseException], *says: str) -> None:
    """Add a case: ``call(env)`` must raise ``error`` with a message matching every ``says``."""
    CASES.append(pytest.param(call, error, says, id=id))


E = ic.InterpClaimsError
S = ic.SiteError
D = ic.DataError
M = ic.ModelLoadError


def _first(rows: list[dict[str, Any]]) -> str:
    return rows[0]["id"]


# -- sites -------------------------------------------------------------------------------------
bad("site/layer-out-of-range", lambda e: ic.ablate(e.model, "L9H0", e.rows), S,
    r"L9H0", r"zoo/agreement.*2 layers", r"Valid examples: L0\.z, L1\.z")
bad("site/head-out-of-range", lambda e: ic.ablate(e.model, "L1H9", e.rows), S,
    r"head 9 in site L1H9", r"4 heads", r"H0\.\.H3")
bad("site/neuron-out-of-range", lambda e: ic.ablate(e.model, "L0N999", e.rows), S,
    r"neuron 999", r"zoo/agreement", r"256 neurons \(0\.\.255\)")
bad("site/hook-name-typo", lambda e: ic.ablate(e.model, "blocks.1.hook_resid_pots", e.rows), S,
    r"unknown site 'blocks\.1\.hook_resid_pots'", r"Did you mean: .*blocks\.1\.hook_resid_post")
bad("site/kind-typo", lambda e: ic.ablate(e.model, "L1.mlp_outt", e.rows), S,
    r"unknown site 'L1\.mlp_outt'", r"Did you mean: .*L1\.mlp_out")
bad("site/lowercase", lambda e: ic.patch(e.model, "l1h2", e.rows), S,
    r"unknown site 'l1h2'", r"Did you mean: L1H2")
bad("site/empty-string", lambda e: ic.ablate(e.model, "", e.rows), S,
    r"unknown site ''", r"shorthand such as 'L1H2'")
bad("site/int", lambda e: ic.ablate(e.model, 3, e.rows), S,
    r"a site must be a string or a Site, got int", r"write e\.g\. 'L1H2'")
bad("site/none", lambda e: ic.patch(e.model, None, e.rows), S,
    r"got NoneType", r"ic\.resid_post\(1\)")
bad("site/tuple", lambda e: ic.steer(e.model, (1, 2), e.vec, e.rows), S,
    r"got tuple: \(1, 2\)", r"'L1\.resid_post'")
bad("site/head-on-layer-kind", lambda e: ic.ablate(e.model, "L1H2.resid_post", e.rows), S,
    r"a head can only be selected on a per-head site", r"not on 'resid_post'")
bad("site/neuron-on-z", lambda e: ic.ablate(e.model, "L0N3.z", e.rows), S,
    r"a neuron can only be selected on 'mlp_post'", r"not on 'z'")
bad("site/unknown-kind", lambda e: ic.Site("bogus", 0), S,
    r"unknown site kind 'bogus'", r"valid kinds are: resid_pre")
bad("site/negative-layer", lambda e: ic.resid_post(-1), S,
    r"site 'resid_post'", r"layer index >= 0", r"got -1")
bad("site/bool-layer", lambda e: ic.attn_out(True), S, r"site 'attn_out'", r"got True")
bad("site/string-layer", lambda e: ic.resid_post("1"), S, r"layer index >= 0", r"got '1'")
bad("site/negative-head", lambda e: ic.head(1, -2), S,
    r"site 'z' of layer 1", r"head index must be an int >= 0", r"got -2")
bad("site/string-head", lambda e: ic.pattern(1, "2"), S, r"site 'pattern' of layer 1", r"got '2'")
bad("site/negative-neuron", lambda e: ic.mlp_post(0, neuron=-1), S,
    r"site 'mlp_post' of layer 0", r"neuron index must be an int >= 0")
bad("site/logits-with-layer", lambda e: ic.Site("logits", 0), S,
    r"logits site takes no layer", r"write 'logits'")
bad("site/hook-layer-out-of-range",
    lambda e: ic.patch(e.model, "blocks.5.hook_resid_post", e.rows), S,
    r"L5\.resid_post does not exist in zoo/agreement", r"L0\.resid_post, L1\.resid_post")
bad("site/ablate-logits", lambda e: ic.ablate(e.model, "logits", e.rows), E,
    r"ablate\(\): cannot intervene on logits", r"use a head by its output \('L1H2' = z\)")
bad("site/ablate-pattern", lambda e: ic.ablate(e.model, "L1H2.pattern", e.rows), E,
    r"cannot intervene on L1H2\.pattern", r"'L1\.mlp_out'")
bad("site/patch-pattern", lambda e: ic.patch(e.model, "L1H2.pattern", e.rows), E,
    r"patch\(\): cannot intervene on L1H2\.pattern", r"a layer site")
bad("site/steer-head-out-of-range", lambda e: ic.steer(e.model, "L1H9", e.vec, e.rows), S,
    r"head 9", r"H0\.\.H3")
bad("site/mean-difference-layer",
    lambda e: ic.mean_difference(e.model, "L9.resid_post", e.rows, "number", "singular", "plural"),
    S, r"L9\.resid_post does not exist", r"2 layers")
bad("site/attention-not-a-head",
    lambda e: ic.attention_score(e.model, "repeated_tokens", head="L1.resid_post"), E,
    r"attention_score\(head=\)", r"names no head", r"write e\.g\. 'L1H2'")
bad("site/attention-head-out-of-range",
    lambda e: ic.attention_score(e.model, "repeated_tokens", head="L1H9"), S, r"head 9", r"4 heads")
bad("site/probe-logits", lambda e: ic.probe(e.model, "logits", "number", e.rows), E,
    r"probe\(\): cannot probe logits", r"probe a residual, attn_out, mlp_out")
bad("site/probe-pattern", lambda e: ic.probe(e.model, "L1H2.pattern", "number", e.rows), E,
    r"cannot probe L1H2\.pattern", r"head site")
bad("site/pair-twice", lambda e: ic.ablate_pair(e.model, "L1H3", "L1H3", e.rows), E,
    r"ablate_pair\(\): both components are L1H3\.z", r"name two different ones")
bad("site/direction-on-head",
    lambda e: ic.ablate(e.model, "L1H2", e.rows, direction=e.vec), E,
    r"direction= needs a residual-width site", r"'L1\.resid_post'", r"not L1H2\.z")

# -- inline data and dataset names -------------------------------------------------------------
bad("data/none", lambda e: ic.measure(e.model, None), D,
    r"data= takes a shipped dataset name, a path to a JSONL file, or a list", r"NoneType")
bad("data/int", lambda e: ic.measure(e.model, 42), D, r"data= takes", r"got int")
bad("data/one-dict", lambda e: ic.measure(e.model, {"text": "the cat sleeps"}), D,
    r"got dict", r"wrap it in a list, data=\[\{\.\.\.\}\]")
bad("data/bytes", lambda e: ic.measure(e.model, b"the cat"), D, r"data= takes", r"got bytes")
bad("data/empty-list", lambda e: ic.measure(e.model, []), D, r"inline data", r"empty")
bad("data/empty-text", lambda e: ic.measure(e.model, [""]), D,
    r"inline data: row 0 has no non-empty 'text'", r"every row needs its prompt")
bad("data/blank-text", lambda e: ic.measure(e.model, ["the cat", {"text": "   "}]), D,
    r"row 1 has no non-empty 'text'", r"got '   '")
bad("data/text-key-typo", lambda e: ic.measure(e.model, [{"txt": "the cat"}]), D,
    r"row 0 has no non-empty 'text' field \(got None\)", r"prompt as 'text'")
bad("data/text-number", lambda e: ic.measure(e.model, [{"text": 5}]), D,
    r"row 0 has no non-empty 'text'", r"got 5")
bad("data/row-number", lambda e: ic.measure(e.model, ["the cat", 3]), D,
    r"row 1 must be a string or a dict with 'text'", r"got int 3")
bad("data/duplicate-ids",
    lambda e: ic.measure(e.model, [{"id": "x", "text": "the cat"}, {"id": "x", "text": "a dog"}]),
    D, r"id 'x' appears twice \(row 0 and row 1\)", r"ids must be unique")
bad("data/id-null", lambda e: ic.measure(e.model, [{"id": None, "text": "the cat"}]), D,
    r"row 0 has id None", r"leave the field out to number the rows")
bad("data/id-list", lambda e: ic.measure(e.model, [{"id": [1], "text": "the cat"}]), D,
    r"row 0 has id \[1\] \(list\)", r"an id is a string or an integer")
bad("data/name-typo", lambda e: ic.measure(e.model, "agreemnt"), D,
    r"no dataset 'agreemnt'", r"shipped: agreement", r"Did you mean 'agreement'\?")
bad("data/prompt-as-name", lambda e: ic.measure(e.model, "the wolf under the cat"), D,
    r"no dataset 'the wolf under the cat'", r"pass a list: data=\['the wolf under the cat'")
bad("data/folder", lambda e: ic.measure(e.model, e.tmp), D,
    r"is a folder, not a file", r"JSONL file")

# -- JSONL files -------------------------------------------------------------------------------
bad("jsonl/missing-file", lambda e: ic.measure(e.model, e.tmp / "nope.jsonl"), D,
    r"nope\.jsonl' does not exist", r"looked for /", r"check the path")
bad("jsonl/invalid-line",
    lambda e: ic.measure(e.model, e.file("broken.jsonl", '{"text": "the cat"}\n\n{"text": "a\n')),
    D, r"broken\.jsonl:3: not valid JSON", r"one JSON object per line")
bad("jsonl/json-array",
    lambda e: ic.measure(e.model, e.file("array.json", json.dumps([{"text": "the cat"}]))), D,
    r"array\.json: line 1 must be a string or a dict", r"not a JSON array")
bad("jsonl/number-line",
    lambda e: ic.measure(e.model, e.file("num.jsonl", '{"text": "the cat"}\n\n5\n')), D,
    r"num\.jsonl: line 3 must be a string or a dict", r"got int 5")
bad("jsonl/not-utf8",
    lambda e: ic.measure(e.model, e.file("latin.jsonl", b'{"text": "the caf\xe9"}\n')), D,
    r"latin\.jsonl: not UTF-8 text", r"save the file as UTF-8")
bad("jsonl/empty-file", lambda e: ic.measure(e.model, e.file("empty.jsonl", "")), D,
    r"empty\.jsonl", r"the dataset is empty")
bad("jsonl/blank-lines", lambda e: ic.measure(e.model, e.file("blank.jsonl", "\n \n\n")), D,
    r"blank\.jsonl", r"empty")
bad("jsonl/csv", lambda e: ic.measure(e.model, e.file("x.csv", "text,answer\nthe cat,sleeps\n")),
    D, r"x\.csv:1: not valid JSON", r'e\.g\. \{"id": "p1", "text"')
bad("jsonl/missing-text",
    lambda e: ic.measure(e.model, e.file("notext.jsonl", '{"text": "a"}\n{"prompt": "b"}\n')), D,
    r"notext\.jsonl: line 2 has no non-empty 'text'", r"every row needs its prompt as 'text'")
bad("jsonl/duplicate-ids",
    lambda e: ic.measure(e.model, e.file("dup.jsonl", '{"id": 1, "text": "a"}\n{"id": "1", '
                                          '"text": "b"}\n')), D,
    r"dup\.jsonl: id '1' appears twice \(line 1 and line 2\)", r"ids must be unique")
bad("jsonl/null-id",
    lambda e: ic.measure(e.model, e.file("nullid.jsonl", '{"text": "a"}\n{"id": null, '
                                          '"text": "b"}\n')), D,
    r"nullid\.jsonl: line 2 has id None", r"an id is a string or an integer")

# -- prompts and their fields ------------------------------------------------------------------
bad("prompt/unknown-word", lambda e: ic.measure(e.model, ["the zebra sleeps"], metric="loss"), D,
    r"prompt 'row-0000'", r"\['zebra'\] are not in the vocabulary of zoo/agreement",
    r"fix the prompt")
bad("prompt/too-long", lambda e: ic.measure(e.model, ["the cat " * 40], metric="loss"), D,
    r"prompt 'row-0000' is 81 tokens long", r"context of 64 tokens", r"shorten it")
bad("prompt/answer-missing", lambda e: ic.measure(e.model, ["the cat"]), D,
    r"metric='logit_diff' needs the field 'answer'", r"row 'row-0000' has only \['id', 'text'\]")
bad("prompt/answer-number", lambda e: ic.measure(e.model, e.edit(answer=3)), D,
    r"field 'answer' of row 'agr-0000'", r"must be a non-empty string, got int 3",
    r'write it as text, e\.g\. "answer": "3"')
bad("prompt/answer-null", lambda e: ic.measure(e.model, e.edit(answer=None)), D,
    r"field 'answer' of row 'agr-0000'", r"got NoneType None")
bad("prompt/answer-empty", lambda e: ic.measure(e.model, e.edit(answer="")), D,
    r"field 'answer' of row 'agr-0000'", r"non-empty string")
bad("prompt/answer-two-tokens", lambda e: ic.measure(e.model, e.edit(answer="sleeps sleep")), D,
    r"row 'agr-0000', field 'answer'", r"not a single token of zoo/agreement",
    r"must be single tokens")
bad("prompt/answer-unknown", lambda e: ic.measure(e.model, e.edit(answer="zebra")), D,
    r"row 'agr-0000', field 'answer': 'zebra' is not a single token", r"must be single tokens")
bad("prompt/wrong-missing",
    lambda e: ic.measure(e.model, [{k: v for k, v in r.items() if k != "wrong"} for r in e.rows]),
    D, r"needs the field 'wrong'", r"row 'agr-0000'")
bad("prompt/wrong-number", lambda e: ic.ablate(e.model, "L1H3", e.edit(wrong=1.5),
                                               metric="logit_diff"), D,
    r"field 'wrong' of row 'agr-0000'", r"got float 1\.5")
bad("prompt/answer-equals-wrong", lambda e: ic.measure(e.model, e.edit(wrong=lambda i, r: r["answer"])),
    D, r"40 of 40 row\(s\) \(first 'agr-0000'\) have the same token as 'answer' and 'wrong'",
    r"logit difference is 0", r"give each row a wrong answer different")
bad("prompt/answer-equals-wrong-one-row",
    lambda e: ic.ablate(e.model, "L1H3", e.edit(wrong=lambda i, r: r["answer"] if i == 7
                                                 else r["wrong"]), metric="flip_rate"), D,
    r"1 of 40 row\(s\) \(first 'agr-0007'\)", r"metric='flip_rate'")
bad("prompt/corrupt-missing",
    lambda e: ic.patch(e.model, "L0.resid_post", [{k: v for k, v in r.items() if k != "corrupt_text"}
                                                  for r in e.rows]), D,
    r"patch\(corrupt_field=\) needs the field 'corrupt_text'", r"row 'agr-0000'")
bad("prompt/corrupt-number", lambda e: ic.patch(e.model, "L0.resid_post", e.edit(corrupt_text=3)),
    D, r"patch\(corrupt_field=\): field 'corrupt_text' of row 'agr-0000'", r"non-empty string")
bad("prompt/corrupt-unknown-word",
    lambda e: ic.patch(e.model, "L0.resid_post",
                       e.edit(corrupt_text=lambda i, r: r["text"].replace("the", "zee", 1))), D,
    r"patch: the corrupted prompts \('corrupt_text'\)", r"\['zee'\] are not in the vocabulary")
bad("prompt/corrupt-other-length",
    lambda e: ic.patch(e.model, "L0.resid_post", e.edit(corrupt_text=lambda i, r: r["text"] + " the")),
    D, r"clean and corrupt prompt 'agr-0000' have different token lengths",
    r"aligned minimal pairs")
bad("prompt/corrupt-identical",
    lambda e: ic.patch(e.model, "L0.resid_post", e.edit(corrupt_text=lambda i, r: r["text"])), D,
    r"the mean logit difference is the same clean and corrupt",
    r"use metric='logit_diff'")
bad("prompt/mean-difference-value",
    lambda e: ic.mean_difference(e.model, "L0.resid_post", e.rows, "number", "singlar", "plural"),
    D, r"no rows with number='singlar'", r"in inline:")
bad("prompt/mean-difference-field",
    lambda e: ic.mean_difference(e.model, "L0.resid_post", e.rows, "nmber", "singular", "plural"),
    D, r"mean_difference needs the field 'nmber'", r"has only")
bad("prompt/probe-task-missing", lambda e: ic.probe(e.model, "L1.resid_post", "nmber", e.rows), D,
    r"probe\(task='nmber'\) needs the field 'nmber'", r"row 'agr-0000'")
bad("prompt/probe-one-class",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.edit(number="singular")), D,
    r"every row of inline:\w+ has the same label 'singular'", r"two or more classes")
bad("prompt/probe-continuous",
    lambda e: ic.probe(e.model, "L1.resid_post", "score", e.edit(score=lambda i, r: i * 0.37)), D,
    r"field 'score' of row 'agr-0001'", r"got float 0\.37", r"looks continuous.*bin the values")
bad("prompt/probe-unique-ints",
    lambda e: ic.probe(e.model, "L1.resid_post", "rank", e.edit(rank=lambda i, r: i)), D,
    r"40 of 40 classes .* have a single row", r"looks continuous: bin its values")
bad("prompt/probe-null-label",
    lambda e: ic.probe(e.model, "L1.resid_post", "number",
                       e.edit(number=lambda i, r: None if i % 3 == 0 else r["number"])), D,
    r"field 'number' of row 'agr-0000'", r"not null", r"drop the unlabelled rows")
bad("prompt/probe-list-label",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.edit(number=[1])), D,
    r"got list \[1\]", r"one scalar label per row")
bad("prompt/probe-single-row-class",
    lambda e: ic.probe(e.model, "L1.resid_post", "number",
                       e.edit(number=lambda i, r: "dual" if i == 0 else r["number"])), D,
    r"1 of 3 classes .* have a single row \('dual'\)", r"add prompts of that class or drop it")
bad("prompt/probe-word-field", lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows,
                                                   word_field="wrd"), D,
    r"probe\(word_field=\) needs the field 'wrd'", r"row 'agr-0000'")
bad("prompt/induction-without-repeats",
    lambda e: ic.attention_score(e.model, "random_tokens", head="L1H2"), D,
    r"attention_score\(pattern='induction'\)", r"an induction score needs repeated tokens")
bad("prompt/side-data-without-answers",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, side_metric="logit_diff"), D,
    r"needs the field 'answer' on every row of dataset 'random_tokens'",
    r"row 'rnd-0000' has only")
bad("prompt/resample-one-prompt",
    lambda e: ic.ablate(e.model, "L1H3", e.rows[:1], how="resample"), D,
    r"no reference prompt is as long as prompt 'agr-0000'", r"resample ablation needs one")

# -- positions ---------------------------------------------------------------------------------
bad("position/too-large", lambda e: ic.patch(e.model, "L0.resid_post", e.rows, positions=99), D,
    r"patch\(positions=99\): position 99 is outside prompt 'agr-0000'",
    r"use a position inside every prompt")
bad("position/too-negative",
    lambda e: ic.patch(e.model, "L0.resid_post", e.rows, positions=-99), D,
    r"position -9\d is outside prompt", r"-1 = last token")
bad("position/field-typo",
    lambda e: ic.patch(e.model, "L0.resid_post", e.rows, positions="subject_poss"), D,
    r"patch\(positions='subject_poss'\) needs the field 'subject_poss'", r"has only")
bad("position/float", lambda e: ic.patch(e.model, "L0.resid_post", e.rows, positions=1.5), E,
    r"patch\(positions=\): expected 'all', an int", r"got 1\.5")
bad("position/bool", lambda e: ic.patch(e.model, "L0.resid_post", e.rows, positions=True), E,
    r"patch\(positions=\)", r"got True")
bad("position/list", lambda e: ic.patch(e.model, "L0.resid_post", e.rows, positions=[1, 2]), E,
    r"patch\(positions=\)", r"a dataset field holding one position per row")
bad("position/field-of-text",
    lambda e: ic.patch(e.model, "L0.resid_post", e.rows, positions="text"), D,
    r"field 'text' of row 'agr-0000'", r"must be an integer token position")
bad("position/field-float",
    lambda e: ic.patch(e.model, "L0.resid_post", e.edit(subject_pos=2.5), positions="subject_pos"),
    D, r"field 'subject_pos' of row 'agr-0000'", r"got float 2\.5",
    r"one whole-number position per row")
bad("position/field-null",
    lambda e: ic.patch(e.model, "L0.resid_post", e.edit(subject_pos=None), positions="subject_pos"),
    D, r"field 'subject_pos'", r"got NoneType None")
bad("position/field-out-of-range",
    lambda e: ic.patch(e.model, "L0.resid_post", e.edit(subject_pos=50), positions="subject_pos"),
    D, r"positions='subject_pos'\): position 50 is outside prompt 'agr-0000'",
    r"use a position inside every prompt")
bad("position/probe", lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, position=99),
    D, r"probe\(position=99\)", r"outside prompt")
bad("position/steer", lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, positions=99),
    D, r"steer\(positions=99\)", r"outside prompt 'agr-0000'")
bad("position/steer-side",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, side_positions="subject_pos"), D,
    r"steer\(side_positions='subject_pos'\) needs the field 'subject_pos'", r"random_tokens")
bad("position/mean-difference",
    lambda e: ic.mean_difference(e.model, "L0.resid_post", e.rows, "number", "singular", "plural",
                                 position=40), D,
    r"mean_difference\(position=40\)", r"outside prompt")

# -- comparators and results -------------------------------------------------------------------
bad("claim/bare-number", lambda e: e.claim().that(0.5), E,
    r"claim\.that\(\) takes an Estimate", r"got float", r"never decided on a point estimate")
bad("claim/none", lambda e: e.claim().that(None), E, r"takes an Estimate", r"got NoneType")
bad("claim/probe-result", lambda e: e.claim().that(e.probe), E,
    r"got ProbeResult", r"claim\.that\(result\.accuracy\)", r"accuracy, auroc, selectivity")
bad("claim/matrix", lambda e: e.claim().that(e.matrix), E,
    r"got EstimateMatrix", r"Claim one cell.*m\['L0', 'H0'\]", r"rows L0, L1")
bad("claim/atp-sweep", lambda e: e.claim().that(e.atp), E,
    r"got AttributionSweep", r"Claim one cell.*m\['L0', 'H0'\].*patched for real")
bad("claim/atp-sweep-unknown-row", lambda e: e.atp["L9", "H0"], E,
    r"patch_heads\(.*\): no row 'L9'", r"rows are L0, L1")
bad("claim/steering-result", lambda e: e.claim().that(e.steering), E,
    r"got SteeringResult", r"claim\.that\(result\.effect\(strength\)\)")
bad("claim/string-threshold", lambda e: e.claim().that(e.est).is_at_least("0.5"), E,
    r"is_at_least\(v\) must be a number", r"got str")
bad("claim/nan-threshold", lambda e: e.claim().that(e.est).is_at_least(math.nan), E,
    r"is_at_least\(v\) must be finite", r"nan")
bad("claim/inf-threshold", lambda e: e.claim().that(e.est).is_at_most(math.inf), E,
    r"is_at_most\(v\) must be finite", r"inf")
bad("claim/bool-threshold", lambda e: e.claim().that(e.est).is_at_least(True), E,
    r"is_at_least\(v\) must be a number", r"got bool")
bad("claim/list-threshold", lambda e: e.claim().that(e.est).is_at_least([0.5]), E,
    r"must be a number", r"got list")
bad("claim/none-threshold", lambda e: e.claim().that(e.est).is_at_most(None), E,
    r"is_at_most\(v\)", r"got NoneType")
bad("claim/between-reversed", lambda e: e.claim().that(e.est).is_between(1, 0), E,
    r"is_between\(low, high\) needs low < high", r"got 1\.0 and 0\.0")
bad("claim/between-equal", lambda e: e.claim().that(e.est).is_between(0.5, 0.5), E,
    r"needs low < high", r"got 0\.5 and 0\.5")
bad("claim/between-nan", lambda e: e.claim().that(e.est).is_between(0, math.nan), E,
    r"is_between\(high\) must be finite", r"got nan")
bad("claim/negligible-zero", lambda e: e.claim().that(e.est).is_negligible(within=0), E,
    r"is_negligible\(within=\) must be > 0", r"got 0")
bad("claim/negligible-negative", lambda e: e.claim().that(e.est).is_negligible(within=-0.1), E,
    r"must be > 0", r"-0\.1")
bad("claim/negligible-string", lambda e: e.claim().that(e.est).is_negligible(within="0.1"), E,
    r"is_negligible\(within=\) must be a number", r"got str")
bad("claim/exceeds-none", lambda e: e.claim().that(e.est).exceeds(None), E,
    r"exceeds\(other\) must be a number", r"got NoneType")
bad("claim/exceeds-by-string", lambda e: e.claim().that(e.est).exceeds(e.est, by="x"), E,
    r"exceeds\(by=\) must be a number", r"got str")
bad("claim/exceeds-by-nan", lambda e: e.claim().that(e.est).exceeds(0.0, by=math.nan), E,
    r"exceeds\(by=\) must be finite", r"got nan")
bad("claim/exceeds-json-estimate",
    lambda e: e.claim().that(e.est).exceeds(ic.Estimate.from_json(e.est.to_json())), E,
    r"cannot compare", r"carries no per-prompt samples", r"compare against a number")
bad("claim/unknown-control", lambda e: e.est.control("random_heads"), E,
    r"has no control 'random_heads'", r"controls measured with it: none",
    r"controls=\['random_heads', \.\.\.\]")
bad("claim/probe-unknown-control", lambda e: e.probe.control("label_shufle"), E,
    r"no control 'label_shufle'", r"control_task, label_shuffle")
bad("claim/matrix-one-key", lambda e: e.matrix["L1"], E,
    r"a cell is indexed by a row and a column, got \['L1'\]", r"matrix\['L0', 'H0'\]")
bad("claim/matrix-head-name", lambda e: e.matrix["L1H3"], E,
    r"got \['L1H3'\]", r"rows L0, L1; columns H0, H1, H2, H3")
bad("claim/matrix-three-keys", lambda e: e.matrix["L1", "H0", "x"], E,
    r"a cell is indexed by a row and a column", r"got \[\('L1', 'H0', 'x'\)\]")
bad("claim/matrix-unknown-row", lambda e: e.matrix["L9", "H0"], E,
    r"patch_heads\(.*\): no row 'L9'", r"rows are L0, L1")
bad("claim/matrix-unknown-column", lambda e: e.matrix["L1", "h0"], E,
    r"no column 'h0'", r"columns are H0, H1, H2, H3")
bad("claim/matrix-index-out-of-range", lambda e: e.matrix[5, 0], E,
    r"row index 5 is out of range", r"there are 2 rows \(L0, L1\)")
bad("claim/matrix-bool-index", lambda e: e.matrix[True, 0], E,
    r"no row True", r"index by label or by position")
bad("claim/steering-unswept", lambda e: e.steering.effect(3.0), E,
    r"steer: strength 3\.0 was not swept", r"swept \[2\.0\]")

# -- arguments: controls, metrics, counts, vectors ---------------------------------------------
bad("arg/probe-controls-string",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, controls="reset_network"), E,
    r"probe\(controls=\) takes a list of controls, got the string 'reset_network'",
    r"write controls=\['reset_network'\]")
bad("arg/probe-control-typo",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, controls=["label_shufle"]), E,
    r"probe\(controls=\): unknown control 'label_shufle'", r"did you mean 'label_shuffle'")
bad("arg/probe-control-twice",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows,
                       controls=["control_task", "control_task"]), E,
    r"probe\(controls=\) names 'control_task' more than once", r"list each once")
bad("arg/attention-controls-string",
    lambda e: ic.attention_score(e.model, "repeated_tokens", "L1H2", controls="random_heads"), E,
    r"attention_score\(controls=\) takes a list", r"controls=\['random_heads'\]")
bad("arg/attention-control-typo",
    lambda e: ic.attention_score(e.model, "repeated_tokens", "L1H2", controls=["random_head"]), E,
    r"unknown control 'random_head'", r"did you mean 'random_heads'")
bad("arg/attention-pattern-typo",
    lambda e: ic.attention_score(e.model, "repeated_tokens", "L1H2", pattern="inductoin"), E,
    r"attention_score\(pattern=\): unknown pattern 'inductoin'", r"did you mean 'induction'",
    r"choose one of induction, previous_token")
bad("arg/localize-metrics-string", lambda e: ic.localize(e.model, e.rows, metrics="kl"), E,
    r"localize\(metrics=\) takes a list of metrics, got the string 'kl'", r"metrics=\['kl'\]")
bad("arg/localize-metric-unknown", lambda e: ic.localize(e.model, e.rows, metrics=["klx"]), E,
    r"localize\(metrics=\): unknown metric 'klx'", r"choose one of logit_diff")
bad("arg/localize-top-k-zero", lambda e: ic.localize(e.model, e.rows, top_k=0), E,
    r"localize\(top_k=\): expected a whole number >= 1", r"got int 0")
bad("arg/localize-top-k-bool", lambda e: ic.localize(e.model, e.rows, top_k=True), E,
    r"localize\(top_k=\)", r"got bool True")
bad("arg/localize-top-k-float", lambda e: ic.localize(e.model, e.rows, top_k=1.5), E,
    r"localize\(top_k=\)", r"got float 1\.5")
bad("arg/localize-resample", lambda e: ic.localize(e.model, e.rows, how="resample"), E,
    r"localize\(how=\): unknown ablation 'resample'", r"choose one of zero, mean")
bad("arg/ablate-how", lambda e: ic.ablate(e.model, "L1H3", e.rows, how="average"), E,
    r"ablate\(how=\): unknown ablation 'average'", r"zero, mean, resample")
bad("arg/ablate-metric-typo", lambda e: ic.ablate(e.model, "L1H3", e.rows, metric="logitdiff"), E,
    r"ablate\(metric=\): unknown metric 'logitdiff'", r"did you mean 'logit_diff'")
bad("arg/ablate-seeds-zero-ablation", lambda e: ic.ablate(e.model, "L1H3", e.rows, seeds=2), E,
    r"ablate\(seeds=\)", r"more than one only with how='resample'", r"draw nothing at random")
bad("arg/ablate-seeds-zero", lambda e: ic.ablate(e.model, "L1H3", e.rows, seeds=0,
                                                  how="resample"), E,
    r"ablate\(seeds=\): expected an int >= 1", r"got seeds=0")
bad("arg/ablate-seeds-bool", lambda e: ic.ablate(e.model, "L1H3", e.rows, seeds=True), E,
    r"ablate\(seeds=\)", r"got seeds=True")
bad("arg/ablate-direction-string",
    lambda e: ic.ablate(e.model, "L0.resid_post", e.rows, direction="abc"), E,
    r"ablate\(direction=\): expected a vector of numbers", r"got str 'abc'")
bad("arg/ablate-direction-shape",
    lambda e: ic.ablate(e.model, "L0.resid_post", e.rows, direction=[1.0, 2.0, 3.0]), E,
    r"direction must be finite, non-zero and of shape \(\d+,\) \(d_model\)", r"got shape \(3,\)")
bad("arg/ablate-direction-resample",
    lambda e: ic.ablate(e.model, "L0.resid_post", e.rows, how="resample", direction=e.vec), E,
    r"ablate\(L0\.resid_post \(direction\), resample",
    r"direction ablation supports how='zero' or 'mean'")
bad("arg/probe-seeds-float",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, seeds=2.5), E,
    r"probe\(seeds=\): expected a count or a non-empty list of integers, got float 2\.5",
    r"seeds=3 pools seeds 0, 1, 2")
bad("arg/probe-seeds-string",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, seeds="3"), E,
    r"probe\(seeds=\)", r"got str '3'")
bad("arg/probe-seeds-repeated",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, seeds=[1, 1]), E,
    r"\[1, 1\] repeats a seed", r"list distinct seeds")
bad("arg/probe-seeds-zero",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, seeds=0), E,
    r"probe\(seeds=\): give at least one seed, got 0", r"seeds=3 pools seeds 0, 1, 2")
bad("arg/probe-seeds-empty",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, seeds=[]), E,
    r"probe\(seeds=\)", r"non-empty list")
bad("arg/probe-test-fraction",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, test_fraction=0.95), E,
    r"probe\(test_fraction=\): expected a number from 0\.1 to 0\.9", r"got float 0\.95")
bad("arg/probe-test-fraction-string",
    lambda e: ic.probe(e.model, "L1.resid_post", "number", e.rows, test_fraction="half"), E,
    r"probe\(test_fraction=\)", r"got str 'half'")
bad("arg/steer-strengths-number",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, strengths=2.0), E,
    r"steer\(strengths=\) takes a list of numbers, got float 2\.0", r"strengths=\[2\.0\]")
bad("arg/steer-strength-nan",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, strengths=[math.nan]), E,
    r"steer\(strengths=\): every value must be a finite number", r"nan")
bad("arg/steer-strength-inf",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, strengths=[1.0, math.inf]), E,
    r"finite number", r"inf")
bad("arg/steer-strength-zero",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, strengths=[0]), E,
    r"steer\(strengths=\): give distinct non-zero strengths", r"0 is the baseline")
bad("arg/steer-strength-string",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, strengths=["1"]), E,
    r"steer\(strengths=\)", r"got str '1'")
bad("arg/steer-strengths-empty",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, strengths=[]), E,
    r"steer\(strengths=\) takes a non-empty list", r"got list \[\]")
bad("arg/steer-strengths-repeated",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, strengths=[1, 1]), E,
    r"distinct non-zero strengths", r"got \[1\.0, 1\.0\]")
bad("arg/steer-vector-string", lambda e: ic.steer(e.model, "L0.resid_post", "abc", e.rows), E,
    r"steer\(vector=\): expected a vector of numbers", r"got str 'abc'")
bad("arg/steer-vector-none", lambda e: ic.steer(e.model, "L0.resid_post", None, e.rows), E,
    r"steer\(vector=\)", r"got NoneType None")
bad("arg/steer-vector-shape", lambda e: ic.steer(e.model, "L0.resid_post", [1.0, 2.0], e.rows), E,
    r"steer: vector must be finite, non-zero and of shape", r"for L0\.resid_post",
    r"got shape \(2,\)")
bad("arg/steer-vector-zero",
    lambda e: ic.steer(e.model, "L0.resid_post", np.zeros(e.vec.shape[0]), e.rows), E,
    r"steer: vector must be finite, non-zero", r"for L0\.resid_post")
bad("arg/steer-vector-nan",
    lambda e: ic.steer(e.model, "L0.resid_post", np.full(e.vec.shape[0], np.nan), e.rows), E,
    r"steer: vector must be finite", r"for L0\.resid_post")
bad("arg/steer-metric", lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, metric="kll"),
    E, r"steer\(metric=\): unknown metric 'kll'", r"did you mean 'kl'")
bad("arg/steer-side-metric",
    lambda e: ic.steer(e.model, "L0.resid_post", e.vec, e.rows, side_metric="perplexity"), E,
    r"steer\(side_metric=\): unknown side_metric 'perplexity'", r"choose one of")
bad("arg/patch-direction", lambda e: ic.patch(e.model, "L0.resid_post", e.rows, "forward"), E,
    r"patch\(direction=\): unknown direction 'forward'", r"denoising, noising")
bad("arg/patch-metric", lambda e: ic.patch(e.model, "L0.resid_post", e.rows, metric="kl"), E,
    r"patch\(metric=\): unknown metric 'kl'", r"normalized, logit_diff")
bad("arg/sweep-kind-logits", lambda e: ic.patch_sweep(e.model, e.rows, kind="logits"), E,
    r"patch_sweep\(kind=\): unknown site kind 'logits'", r"resid_pre, z, attn_out")
bad("arg/sweep-kind-typo", lambda e: ic.patch_sweep(e.model, e.rows, kind="resid_pr"), E,
    r"unknown site kind 'resid_pr'", r"did you mean 'resid_pre'")
bad("arg/sweep-lengths",
    lambda e: ic.patch_sweep(e.model, e.edit(text=lambda i, r: r["text"] + " the" * (i % 2),
                                             corrupt_text=lambda i, r: r["corrupt_text"]
                                             + " the" * (i % 2)), metric="logit_diff"), D,
    r"patch_sweep: prompts have different token lengths", r"filter the dataset")
bad("arg/pair-metric", lambda e: ic.ablate_pair(e.model, "L1H3", "L1H2", e.rows, metric="kl"), E,
    r"ablate_pair\(metric=\): unknown metric 'kl'", r"logit_diff, logit_diff_mean, loss, prob_drop",
    r"or pass a callable metric\(logits, rows\)")
bad("arg/pair-how", lambda e: ic.ablate_pair(e.model, "L1H3", "L1H2", e.rows, how="resample"), E,
    r"ablate_pair\(how=\): unknown ablation 'resample'", r"choose one of zero, mean")
bad("arg/measure-metric", lambda e: ic.measure(e.model, e.rows, metric="kl"), E,
    r"measure\(metric=\): unknown metric 'kl'",
    r"logit_diff, logit_diff_mean, loss, pairwise_accuracy, top1, prob")
bad("arg/model-name-not-fixture", lambda e: ic.measure("zoo/agreement", e.rows), E,
    r"measure\(\) takes the `model` fixture", r"got str",
    r"pytestmark = ic\.model\(\"zoo/agreement\"\)")
bad("arg/family-empty", lambda e: ic.family(""), E, r"ic\.family\(\)", r"non-empty family name")
bad("arg/model-backends-string", lambda e: ic.model("zoo/agreement", backends="tl"), E,
    r"backends= takes a list of backend names, got the string 'tl'", r"backends=\['tl'\]")
bad("arg/model-backends-empty", lambda e: ic.model("zoo/agreement", backends=[]), E,
    r"backends= is empty", r"leave backends= out to run on every backend")


# -- model folders -----------------------------------------------------------------------------
def _truncate(path: Path) -> None:
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])


def _to_bin(path: Path) -> None:
    """The weights as a pickled ``pytorch_model.bin`` (transformers loads it; interpclaims does
    not, and says how to convert it)."""
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(path / "model.safetensors"), path / "pytorch_model.bin")
    (path / "model.safetensors").unlink()


def _bert(path: Path) -> None:
    config = json.loads((path / "config.json").read_text())
    config.update(architectures=["BertModel"], model_type="bert")
    (path / "config.json").write_text(json.dumps(config))


def load(name: str, backend: str = "tl") -> Any:
    return ModelRegistry().get(name, backend)


bad("folder/truncated-weights", lambda e: load(e.folder("truncated", edit=_truncate)), M,
    r"could not load the weights of model '.*truncated'", r"SafetensorError",
    r"may be damaged or truncated.*copy it again")
bad("folder/no-tokenizer",
    lambda e: load(e.folder("notok", drop=("tokenizer.json", "tokenizer_config.json",
                                           "special_tokens_map.json"))), M,
    r"notok' has no tokenizer files", r"it holds \[", r"tokenizer\.save_pretrained\(folder\)")
bad("folder/pytorch-bin-only", lambda e: load(e.folder("bin", edit=_to_bin)), M,
    r"holds pytorch_model\.bin weights but no model\.safetensors",
    r"save_pretrained\(folder, safe_serialization=True\)")
bad("folder/no-weights", lambda e: load(e.folder("noweights", drop=("model.safetensors",))), M,
    r"noweights' has no weights \(model\.safetensors\)", r"model\.save_pretrained\(folder\)")
bad("folder/no-config", lambda e: load(e.folder("noconfig", drop=("config.json",))), M,
    r"noconfig' is a local path but has no config\.json", r"Hugging Face layout")
bad("folder/config-not-json",
    lambda e: load(e.folder("badjson", edit=lambda p: (p / "config.json").write_text("{oops"))), M,
    r"could not load the config of model '.*badjson'", r"not a valid JSON file",
    r"re-save it with save_pretrained")
bad("folder/unsupported-architecture", lambda e: load(e.folder("bert", edit=_bert)), M,
    r"architecture BertModel is not supported", r"LlamaForCausalLM and GPT2LMHeadModel")
bad("folder/damaged-tokenizer",
    lambda e: load(e.folder("badtok", edit=lambda p: (p / "tokenizer.json").write_text("nope"))),
    M, r"could not load the tokenizer of model '.*badtok'", r"tokenizer files may be damaged")
bad("folder/relative-typo", lambda e: load("./models/agreement"), M,
    r"no model folder '\./models/agreement'", r"relative paths start at the current directory",
    r"a hub name is written 'org/name'")
bad("folder/near-miss", lambda e: load(str(ZOO_FOLDER.parent / "agreemnt")), M,
    r"agreemnt does not exist", r"Did you mean .*models/agreement")
bad("folder/absolute-missing", lambda e: load("/nonexistent/models/agreement"), M,
    r"no model folder '/nonexistent/models/agreement'", r"does not exist")
bad("folder/a-file", lambda e: load(str(ZOO_FOLDER / "config.json")), M,
    r"config\.json' is a file, not a model folder", r"give the folder that holds config\.json")
bad("folder/zoo-typo", lambda e: load("zoo/agreemnt"), M,
    r"no zoo model 'zoo/agreemnt'", r"Did you mean 'zoo/agreement'\?",
    r"python -m interpclaims\.zoo build")
bad("folder/invalid-hub-name", lambda e: load("my model"), M,
    r"'my model' is not a zoo model", r"not a valid Hugging Face hub name")
bad("folder/hub-offline", lambda e: load("no-such-org/no-such-model"), M,
    r"HF_HUB_OFFLINE=1", r"huggingface-cli download no-such-org/no-such-model")
bad("folder/empty-name", lambda e: load(""), M, r"a model name must be a non-empty string",
    r"got ''")
bad("folder/unknown-backend", lambda e: load("zoo/agreement", "jax"), ic.BackendUnavailable,
    r"unknown backend 'jax'", r"known backends: tl, nnsight")


@pytest.mark.parametrize(("call", "error", "says"), CASES)
def test_bad_input_gets_a_clear_error(env: Env, call, error, says) -> None:
    with _context.use(ClaimContext(n_resamples=200)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BaseException) as info:
            call(env)
    err = info.value
    assert isinstance(err, error), f"{type(err).__name__}: {err}"
    assert isinstance(err, ic.InterpClaimsError), f"not an InterpClaimsError: {err!r}"
    message = str(err)
    for pattern in says:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    raised_at = Path(traceback.extract_tb(err.__traceback__)[-1].filename).resolve()
    assert raised_at.is_relative_to(PACKAGE), f"raised inside {raised_at}, not by interpclaims"
    assert env.model.leaks() == []


def test_the_catalogue_is_large_and_every_case_is_specific() -> None:
    assert len(CASES) >= 120
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    assert all(len(c.values[2]) >= 2 for c in CASES)


def test_a_damaged_model_is_loaded_once(env: Env) -> None:
    """A load error is kept by the registry: the next test that asks for the model gets the same
    error at once, without reading the damaged file again."""
    registry = ModelRegistry()
    path = env.folder("truncated", edit=_truncate)
    with pytest.raises(ic.ModelLoadError) as first:
        registry.get(path, "tl")
    with pytest.raises(ic.ModelLoadError) as second:
        registry.get(path, "tl")
    assert second.value is first.value


# -- warnings point at the claim's line; no power warning on a decided claim --------------------
COMPARATORS = [
    ("is_at_least", lambda s: s.is_at_least(-100.0)),
    ("is_at_most", lambda s: s.is_at_most(100.0)),
    ("exceeds-number", lambda s: s.exceeds(-100.0)),
    ("is_between", lambda s: s.is_between(-100.0, 100.0)),
    ("is_negligible", lambda s: s.is_negligible(within=100.0)),
]


@pytest.mark.parametrize(("name", "decide"), COMPARATORS, ids=[c[0] for c in COMPARATORS])
def test_claim_warnings_point_at_the_users_line(name: str, decide) -> None:
    small = estimate_from_samples(np.array([0.1, 0.3, 0.2, 0.25, 0.15]), method="m", label="tiny")
    ctx = ClaimContext(n_resamples=200, allow_inconclusive=True)
    with _context.use(ctx), warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        decide(Claim(lambda result: None).that(small))
    claim_warnings = [w for w in got if issubclass(w.category, ic.ClaimWarning)]
    assert claim_warnings, f"{name}: no ClaimWarning"
    # the user's line is the comparator call, in the lambda of COMPARATORS above
    line = decide.__code__.co_firstlineno
    for w in claim_warnings:
        assert (Path(w.filename), w.lineno) == (Path(__file__), line), (
            f"{name}: warning points at {w.filename}:{w.lineno}")


def _line_after() -> int:
    """The line after the caller's (where the comparator is called)."""
    import sys

    return sys._getframe(1).f_lineno + 1


def test_exceeds_another_estimate_warns_at_the_users_line() -> None:
    rng = np.random.default_rng(0)
    ctx = ClaimContext(n_resamples=200, allow_inconclusive=True)
    with _context.use(ctx), warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        a = estimate_from_samples(rng.normal(1, 0.1, 5), method="m", label="a",
                                  unit_ids=tuple("abcde"))
        b = estimate_from_samples(rng.normal(0, 0.1, 5), method="m", label="b",
                                  unit_ids=tuple("abcde"))
        subject = Claim(lambda result: None).that(a)
        line = _line_after()
        subject.exceeds(b, by=-10.0)
    lines = {(Path(w.filename), w.lineno) for w in got if issubclass(w.category, ic.ClaimWarning)}
    assert lines == {(Path(__file__), line)}


def test_a_decisively_decided_claim_gets_no_low_power_warning() -> None:
    """is_negligible(within=0.1) of an effect near 7 is REFUTED whatever its width: telling the
    user how many prompts would make it SUPPORTED is noise."""
    rng = np.random.default_rng(1)
    big = estimate_from_samples(7 + rng.normal(0, 2.0, 60), method="m", label="big")
    with _context.use(ClaimContext(n_resamples=500)), warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        with pytest.raises(ic.ClaimRefuted) as refuted:
            Claim(lambda result: None).that(big).is_negligible(within=0.1)
    assert "low_power" not in str(refuted.value)
    assert not [w for w in got if "low_power" in str(w.message)]
    # an undecided claim on the same data still says how many prompts would decide it
    undecided = ClaimContext(n_resamples=500, allow_inconclusive=True)
    with _context.use(undecided), warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        Claim(lambda result: None).that(big).is_at_least(big.value)
    assert [w for w in got if "low_power" in str(w.message)]
