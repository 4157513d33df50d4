"""The example suite's claims, computed by hand with plain TransformerLens hooks.

    python benchmarks/naive_tl.py [--out FILE] [--resamples N]

This is the baseline of ``benchmarks/run.py``'s ``claims_vs_script`` benchmark: what a researcher
would write without interpclaims. It computes the number (and a 95% percentile-bootstrap
interval over prompts, 10,000 resamples) that every claim in ``claims/*.py`` is decided on, for
the ``tl`` backend:

* naively: every claim quantity runs its own forward passes (a clean run, a corrupt run, the
  intervened run ...), nothing is shared between claims, and each claim computes only what it
  needs (one cell of a sweep, not the whole matrix);
* with a plain ``HookedTransformer`` and ``run_with_hooks`` — no interpclaims analysis, store or
  statistics. interpclaims is used only to *load* the models (``Model(name, "tl").native``, the
  same HookedTransformer the harness runs, and its tokenizer) and to find the fixtures folder;
* in batches of 64 prompts (the harness's batch size), so forward-pass counts compare one to one:
  one forward pass = one call of the model on one batch of at most 64 prompts.

It prints (or writes to ``--out``) a JSON object: ``timed_seconds`` (the claims section only:
after imports, model loads and data reading), ``forward_passes``, and ``values`` (the point value
and interval of every claim quantity, keyed by test name, ``name[params]`` for parametrized
tests without the backend; a list where one test decides several claims).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import torch

BATCH = 64
Rows = list[dict[str, Any]]


class Naive:
    """One model, plain TransformerLens, counting its forward passes."""

    passes = 0  # shared by every model

    def __init__(self, name: str, rng: np.random.Generator, resamples: int) -> None:
        from interpclaims.models import Model

        loaded = Model(name, "tl")
        self.tl = loaded.native  # HookedTransformer
        self.tok = loaded.tokenizer
        self.bos, self.pad = loaded.bos_id, loaded.pad_id
        self.n_layers, self.n_heads = self.tl.cfg.n_layers, self.tl.cfg.n_heads
        self.rng = rng
        self.resamples = resamples

    # -- plain helpers ---------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [[self.bos, *self.tok.encode(t, add_special_tokens=False)] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        return ids, torch.tensor([len(r) for r in rows])

    def word_id(self, w: str) -> int:
        for text in (" " + w, w):
            ids = self.tok.encode(text, add_special_tokens=False)
            if len(ids) == 1:
                return int(ids[0])
        raise ValueError(w)

    def run(self, tokens: torch.Tensor, hooks_for: Any = None, read: tuple[str, ...] = ()
            ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits (and the activations of the hooks named in ``read``), batch by batch;
        ``hooks_for(rows)`` gives the editing hooks for the rows of one batch."""
        logits: list[torch.Tensor] = []
        acts: dict[str, list[torch.Tensor]] = {name: [] for name in read}
        for start in range(0, tokens.shape[0], BATCH):
            rows = slice(start, min(start + BATCH, tokens.shape[0]))
            hooks = list(hooks_for(rows)) if hooks_for else []
            for name in read:
                hooks.append((name, lambda act, hook, name=name: acts[name].append(act.clone())))
            with torch.no_grad():
                logits.append(self.tl.run_with_hooks(tokens[rows], fwd_hooks=hooks,
                                                     return_type="logits"))
            Naive.passes += 1
        return torch.cat(logits), {k: torch.cat(v) for k, v in acts.items()}

    @staticmethod
    def mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
        return torch.arange(width)[None, :] < lengths[:, None]

    def logit_diff(self, logits: torch.Tensor, lengths: torch.Tensor, rows: Rows) -> torch.Tensor:
        last = logits[torch.arange(len(rows)), lengths - 1].double()
        a = torch.tensor([self.word_id(r["answer"]) for r in rows])
        w = torch.tensor([self.word_id(r["wrong"]) for r in rows])
        idx = torch.arange(len(rows))
        return last[idx, a] - last[idx, w]

    def loss(self, logits: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor
             ) -> torch.Tensor:
        logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
        nll = -logp.gather(-1, tokens[:, 1:, None])[..., 0]
        m = self.mask(lengths, tokens.shape[1])[:, 1:].double()
        return (nll * m).sum(1) / m.sum(1).clamp(min=1)

    def interval(self, x: Any) -> dict[str, float]:
        """Mean and 95% percentile-bootstrap interval over prompts."""
        x = np.asarray(x, dtype=np.float64).ravel()
        idx = self.rng.integers(0, x.size, size=(self.resamples, x.size))
        lo, hi = np.quantile(x[idx].mean(1), [0.025, 0.975])
        return {"value": float(x.mean()), "ci_low": float(lo), "ci_high": float(hi), "n": x.size}

    @staticmethod
    def at(n: int, positions: list[int], width: int) -> torch.Tensor:
        where = torch.zeros((n, width), dtype=torch.bool)
        where[torch.arange(n), torch.tensor(positions)] = True
        return where

    # -- analyses, by hand -------------------------------------------------------------------
    def measure(self, rows: Rows) -> torch.Tensor:
        tokens, lengths = self.tokenize([r["text"] for r in rows])
        return self.logit_diff(self.run(tokens)[0], lengths, rows)

    def mean_ablate_heads(self, rows: Rows, layer: int, heads: list[tuple[int, ...]],
                          metric: str) -> list[torch.Tensor]:
        """For each group of heads: ``metric(ablated) - metric(clean)`` per prompt, the heads'
        z set to their mean over all real tokens of the data (one clean run, one run a group)."""
        hook = f"blocks.{layer}.attn.hook_z"
        tokens, lengths = self.tokenize([r["text"] for r in rows])
        clean_logits, acts = self.run(tokens, read=(hook,))
        m = self.mask(lengths, tokens.shape[1])
        means = {h: acts[hook][:, :, h][m].mean(0) for group in heads for h in group}

        def metric_of(logits: torch.Tensor) -> torch.Tensor:
            if metric == "loss":
                return self.loss(logits, tokens, lengths)
            return self.logit_diff(logits, lengths, rows)

        base = metric_of(clean_logits)
        out = []
        for group in heads:
            def hooks(rs: slice, group: tuple[int, ...] = group) -> list[Any]:
                def edit(act: torch.Tensor, hook: Any) -> torch.Tensor:
                    act = act.clone()
                    for h in group:
                        act[:, :, h] = means[h]
                    return act
                return [(f"blocks.{layer}.attn.hook_z", edit)]

            out.append(metric_of(self.run(tokens, hooks)[0]) - base)
        return out

    def patch(self, rows: Rows, hook: str, where: torch.Tensor, direction: str,
              head: int | None = None) -> torch.Tensor:
        """Normalized patching effect per prompt: a clean, a corrupt and a patched run."""
        clean_t, lengths = self.tokenize([r["text"] for r in rows])
        corrupt_t, _ = self.tokenize([r["corrupt_text"] for r in rows])
        clean_logits, clean_acts = self.run(clean_t, read=(hook,))
        corrupt_logits, corrupt_acts = self.run(corrupt_t, read=(hook,))
        source, receiver = ((clean_acts[hook], corrupt_t) if direction == "denoising"
                            else (corrupt_acts[hook], clean_t))

        def hooks(rs: slice) -> list[Any]:
            def edit(act: torch.Tensor, hook: Any) -> torch.Tensor:
                act = act.clone()
                w = where[rs]
                if head is None:
                    act[w] = source[rs][w]
                else:
                    act[:, :, head][w] = source[rs][:, :, head][w]
                return act
            return [(hook, edit)]

        patched_logits, _ = self.run(receiver, hooks)
        m_clean = self.logit_diff(clean_logits, lengths, rows)
        m_corrupt = self.logit_diff(corrupt_logits, lengths, rows)
        m_patched = self.logit_diff(patched_logits, lengths, rows)
        return (m_patched - m_corrupt) / (m_clean - m_corrupt)

    def subject(self, rows: Rows) -> torch.Tensor:
        width = max(len(self.tok.encode(r["text"], add_special_tokens=False)) for r in rows) + 1
        return self.at(len(rows), [int(r["subject_pos"]) for r in rows], width)

    def last(self, rows: Rows) -> torch.Tensor:
        lens = [len(self.tok.encode(r["text"], add_special_tokens=False)) for r in rows]
        return self.at(len(rows), lens, max(lens) + 1)

    def attention_score(self, rows: Rows, layer: int, head: int, pattern: str) -> dict[str, Any]:
        """The head's mean attention along ``pattern`` per prompt, and its difference from the
        mean of 4 other heads drawn at random (paired per prompt)."""
        tokens, lengths = self.tokenize([r["text"] for r in rows])
        names = tuple(f"blocks.{ly}.attn.hook_pattern" for ly in range(self.n_layers))
        _, acts = self.run(tokens, read=names)
        pats = torch.stack([acts[n] for n in names], 1)  # [b, layer, head, q, k]
        others = [(ly, h) for ly in range(self.n_layers) for h in range(self.n_heads)
                  if (ly, h) != (layer, head)]
        pick = [others[i] for i in sorted(self.rng.choice(len(others), 4, replace=False))]
        own, ctrl = [], []
        for b in range(tokens.shape[0]):
            toks = tokens[b, : int(lengths[b])].tolist()
            if pattern == "previous_token":
                pairs = [(i, i - 1) for i in range(1, len(toks))]
            else:
                seen: dict[int, int] = {}
                pairs = []
                for i, t in enumerate(toks):
                    if i > 0 and t in seen:
                        pairs.append((i, seen[t] + 1))
                    seen[t] = i
            if not pairs:
                continue
            q = torch.tensor([p[0] for p in pairs])
            k = torch.tensor([p[1] for p in pairs])
            scores = pats[b][:, :, q, k].mean(-1)
            own.append(float(scores[layer, head]))
            ctrl.append(float(torch.stack([scores[ly, h] for ly, h in pick]).mean()))
        own_a, ctrl_a = np.array(own), np.array(ctrl)
        return {**self.interval(own_a), "tested": self.interval(own_a - ctrl_a)}

    @staticmethod
    def fit_predict(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, k: int) -> np.ndarray:
        """Ridge one-vs-rest linear probe on standardized features, closed form."""
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        a = np.hstack([(xtr - mu) / sd, np.ones((len(xtr), 1))])
        b = np.hstack([(xte - mu) / sd, np.ones((len(xte), 1))])
        reg = np.eye(a.shape[1])
        reg[-1, -1] = 0.0
        w = np.linalg.solve(a.T @ a + reg, a.T @ (np.eye(k)[ytr] * 2 - 1))
        return b @ w

    def probe(self, rows: Rows, layer: int, task: str, controls: tuple[str, ...], seeds: int = 1
              ) -> dict[str, np.ndarray]:
        """Per held-out prompt 0/1 accuracy of a probe at the last token, and of its controls."""
        tokens, lengths = self.tokenize([r["text"] for r in rows])
        name = f"blocks.{layer}.hook_resid_post"
        _, acts = self.run(tokens, read=(name,))
        feats = acts[name][torch.arange(len(rows)), lengths - 1].double().numpy()
        labels = [str(r[task]) for r in rows]
        classes = sorted(set(labels))
        k = len(classes)
        y = np.array([classes.index(v) for v in labels])
        words = [str(r["subject"]) for r in rows]
        n = len(y)
        out: dict[str, list[np.ndarray]] = {}
        for _ in range(seeds):
            order = self.rng.permutation(n)
            test, train = order[: n // 2], order[n // 2:]
            runs = {"task": (feats, y[train], y[test])}
            if "label_shuffle" in controls:
                runs["label_shuffle"] = (feats, self.rng.permutation(y[train]), y[test])
            if "control_task" in controls:
                types = sorted(set(words))
                mapping = dict(zip(types, self.rng.integers(0, k, len(types)).tolist(), strict=True))
                cy = np.array([mapping[w] for w in words])
                runs["control_task"] = (feats, cy[train], cy[test])
            if "random_features" in controls:
                noise = self.rng.standard_normal(feats.shape) @ self.rng.standard_normal(
                    (feats.shape[1], feats.shape[1]))
                runs["random_features"] = (noise, y[train], y[test])
            for key, (x, ytr, yte) in runs.items():
                pred = self.fit_predict(x[train], ytr, x[test], k).argmax(1)
                out.setdefault(key, []).append((pred == yte).astype(np.float64))
        return {key: np.concatenate(v) for key, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--out", help="write the JSON here instead of stdout")
    ap.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (10000)")
    args = ap.parse_args()

    from interpclaims._data import fixtures_dir

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    llama = Naive("zoo/agreement", rng, args.resamples)
    have_gpt2 = (fixtures_dir() / "models" / "agreement-gpt2" / "config.json").is_file()
    gpt2 = Naive("zoo/agreement-gpt2", rng, args.resamples) if have_gpt2 else None

    def read_jsonl(name: str) -> Rows:
        with (fixtures_dir() / "data" / f"{name}.jsonl").open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    agr, rep = read_jsonl("agreement"), read_jsonl("repeated_tokens")
    values: dict[str, Any] = {}
    m = llama
    iv = m.interval

    start = time.perf_counter()

    # claims/test_agreement.py
    values["test_model_prefers_the_agreeing_verb"] = iv(m.measure(agr))
    values["test_subject_head_L1H3_is_necessary_for_agreement"] = iv(
        m.mean_ablate_heads(agr, 1, [(3,)], "logit_diff")[0])
    values["test_an_induction_head_is_irrelevant_to_agreement"] = iv(
        m.mean_ablate_heads(agr, 1, [(2,)], "logit_diff")[0])
    values["test_induction_head_L1H2_drives_agreement"] = iv(
        m.mean_ablate_heads(agr, 1, [(2,)], "logit_diff")[0])

    # claims/test_causal.py
    values["test_patching_the_subject_restores_agreement"] = iv(
        m.patch(agr, "blocks.0.hook_resid_post", m.subject(agr), "denoising"))
    values["test_the_subject_position_is_necessary"] = iv(
        m.patch(agr, "blocks.0.hook_resid_post", m.subject(agr), "noising"))
    one = [r for r in agr if len(r["text"].split()) == 5]
    values["test_layer1_sweep_finds_the_subject_position"] = iv(m.patch(
        one, "blocks.1.hook_resid_pre", m.at(len(one), [2] * len(one), m.last(one).shape[1]),
        "denoising"))
    values["test_head_L1H3_carries_subject_number"] = iv(
        m.patch(agr, "blocks.1.attn.hook_z", m.last(agr), "denoising", head=3))
    values["test_patching_the_induction_head_restores_agreement"] = iv(
        m.patch(agr, "blocks.1.attn.hook_z", m.last(agr), "denoising", head=2))
    a, b, joint = m.mean_ablate_heads(agr, 1, [(3,), (2,), (3, 2)], "logit_diff")
    values["test_induction_and_subject_heads_do_not_back_each_other_up"] = iv(joint - a - b)

    # steering along the mean difference plural - singular of L0.resid_post at the subject
    tokens, _ = m.tokenize([r["text"] for r in agr])
    _, acts = m.run(tokens, read=("blocks.0.hook_resid_post",))
    at_subj = acts["blocks.0.hook_resid_post"][m.subject(agr)]
    plural = torch.tensor([r["number"] == "plural" for r in agr])
    vec = at_subj[plural].mean(0) - at_subj[~plural].mean(0)

    def steer_hooks(where: torch.Tensor) -> Any:
        def hooks(rs: slice) -> list[Any]:
            def edit(act: torch.Tensor, hook: Any) -> torch.Tensor:
                act = act.clone()
                w = where[rs]
                act[w] = act[w] + vec
                return act
            return [("blocks.0.hook_resid_post", edit)]
        return hooks

    singular = [r for r in agr if r["number"] == "singular"]
    s_tokens, s_lengths = m.tokenize([r["text"] for r in singular])
    s_clean = m.logit_diff(m.run(s_tokens)[0], s_lengths, singular)
    s_steered = m.logit_diff(m.run(s_tokens, steer_hooks(m.subject(singular)))[0], s_lengths,
                             singular)
    flip = ((s_clean > 0) != (s_steered > 0)).double()
    r_tokens, r_lengths = m.tokenize([r["text"] for r in rep])
    r_where = m.at(len(rep), (r_lengths - 1).tolist(), r_tokens.shape[1])
    idx = torch.arange(len(rep))
    p = torch.log_softmax(m.run(r_tokens)[0][idx, r_lengths - 1].double(), -1)
    q = torch.log_softmax(m.run(r_tokens, steer_hooks(r_where))[0][idx, r_lengths - 1].double(),
                          -1)
    kl = (p.exp() * (p - q)).sum(-1)
    values["test_steering_subject_number_flips_the_verb_with_small_side_effect"] = [
        iv(flip), iv(kl)]

    # claims/test_induction.py
    values["test_L1H2_is_an_induction_head"] = m.attention_score(rep, 1, 2, "induction")
    values["test_L0H1_is_a_previous_token_head"] = m.attention_score(rep, 0, 1, "previous_token")
    values["test_previous_token_head_is_necessary_for_induction"] = iv(
        m.mean_ablate_heads(rep, 0, [(1,)], "loss")[0])
    values["test_ablating_an_idle_layer0_head_barely_changes_the_loss"] = iv(
        m.mean_ablate_heads(rep, 0, [(0,)], "loss")[0])
    values["test_L0H1_is_an_induction_head"] = m.attention_score(rep, 0, 1, "induction")

    # claims/test_probes.py
    for task in ("number", "category"):
        for layer in (0, 1):
            acc = m.probe(agr, layer, task, ("label_shuffle", "control_task"))
            values[f"test_feature_is_decodable_above_the_shuffled_label_control[{task}-{layer}]"] = {
                **iv(acc["task"]), "tested": iv(acc["task"] - acc["label_shuffle"])}
    acc = m.probe(agr, 0, "number", ("control_task",), seeds=4)
    values["test_subject_number_is_selective_in_layer0"] = iv(acc["task"] - acc["control_task"])
    acc = m.probe(agr, 1, "number", ("random_features",), seeds=3)
    values["test_random_features_carry_no_number"] = iv(acc["random_features"])
    acc = m.probe(agr, 0, "number", ("random_features",))
    values["test_random_features_decode_number"] = iv(acc["random_features"])

    # claims/test_gpt2.py (zoo/agreement-gpt2)
    if gpt2 is not None:
        g = gpt2
        values["test_gpt2_prefers_the_agreeing_verb"] = iv(g.measure(agr))
        values["test_gpt2_subject_head_L0H3_is_necessary"] = iv(
            g.mean_ablate_heads(agr, 0, [(3,)], "logit_diff")[0])
        values["test_gpt2_subject_embedding_is_sufficient"] = iv(
            g.patch(agr, "blocks.0.hook_resid_pre", g.subject(agr), "denoising"))
        values["test_gpt2_subject_layer0_output_is_sufficient"] = iv(
            g.patch(agr, "blocks.0.hook_resid_post", g.subject(agr), "denoising"))

    timed = time.perf_counter() - start
    out = {"timed_seconds": timed, "forward_passes": Naive.passes, "batch_size": BATCH,
           "resamples": args.resamples, "n_claim_tests": len(values), "values": values}
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
