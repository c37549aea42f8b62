"""The brain-to-text evaluation protocol: free-running decoding of the test segments, the model
beside its controls (:mod:`neuroseq.evaluation.arms`: noise with the training data's spectrum
and spatial covariance, the brain data of another sentence of similar length, the LLM alone),
a constant output chosen on the training texts and, for described events, a classifier that
picks the description.

Decoding is free-running by construction: the batches the model decodes from carry no text
(:data:`TEXT_FIELDS` are removed before the model sees them), and ``teacher_forced`` in the
results is whether any batch handed to the model held text — so it reports how decoding ran.

Every arm is scored with BLEU-4, ROUGE-L, WER, BERTScore (:mod:`neuroseq.evaluation.text`) and
by retrieval of the true text among all test texts by the arm's likelihood, chance beside; each
control is compared with a paired permutation test over sentences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from neuroseq.errors import DataError
from neuroseq.evaluation import text as tm
from neuroseq.evaluation.arms import MatchedNoise, run_arms
from neuroseq.evaluation.prefix_probe import prefix_probe
from neuroseq.evaluation.text_baselines import classifier_baseline, constant_output, ridge_text

#: arm name → brain input (see :mod:`neuroseq.evaluation.arms`)
ARMS = {"model": "own", "noise": "noise", "shuffled": "other", "llm_only": "empty"}
#: the three controls every table has beside the model
CONTROLS = ("noise", "shuffled", "llm_only")
#: the table's metrics for sentences (exact match of a whole sentence is left out: no arm
#: reaches it at our scale, so it can separate nothing) and for described events (where the
#: texts are a closed set and exact match is the accuracy of the description)
TABLE_METRICS = {False: ["bleu4", "rouge_l", "wer", "bertscore", "retrieval_top1"],
                 True: ["bleu4", "rouge_l", "wer", "bertscore", "exact_match",
                        "retrieval_top1"]}
GENERATE_KEYS = ("max_new_tokens", "num_beams", "do_sample", "temperature", "top_p", "seed")
#: batch fields that hold the reference text (never handed to the model while decoding)
TEXT_FIELDS = ("text", "text_ids", "text_valid")


@torch.no_grad()
def decode_arms(model: Any, ds: Any, texts: list[str], dec: dict[str, Any], batch_size: int,
                noise: Any = None) -> tuple[dict[str, list[str]], dict[str, np.ndarray], bool]:
    """Decoded text of every item of ``ds`` (whose texts are ``texts``) per arm (:data:`ARMS`),
    each arm's log-likelihood matrix ``[items, distinct texts]``, and whether any batch the
    model decoded from held text (teacher forcing); items are batched as the model batches them
    (``model.collate_fn()``: a codec-reading encoder gets codes, noise included).  ``noise``:
    the noise arm's source (:class:`~neuroseq.evaluation.arms.MatchedNoise`; default white)."""
    model.eval()
    cands = sorted(set(texts))
    gen_kw = {k: dec[k] for k in GENERATE_KEYS}
    saw_text = []

    def predict(batch: Any, n: int) -> tuple[list[str], np.ndarray]:
        if batch is not None:
            batch = {k: v for k, v in batch.items() if k not in TEXT_FIELDS}
            saw_text.append(any(k in batch for k in TEXT_FIELDS))
        meg = None if batch is None else model.meg_embeddings(batch)
        hyps = model.generate(meg, n, **gen_kw)
        return hyps, model.candidate_log_likelihoods(meg, cands, n).cpu().numpy()

    out = run_arms(ds, texts, predict, arms=ARMS, batch_size=batch_size, seed=int(dec["seed"]),
                   collate=model.collate_fn(), noise=noise,
                   lengths=[len(t.split()) for t in texts])
    hyps = {a: [h for part in v for h in part[0]] for a, v in out.items()}
    return hyps, {a: np.concatenate([part[1] for part in v]) for a, v in out.items()}, \
        any(saw_text)


def score_arms(hyps: dict[str, list[str]], ll: dict[str, np.ndarray], refs: list[str], *,
               bertscore: bool = True) -> dict[str, Any]:
    """Each arm's corpus scores, per-sentence scores, likelihood retrieval and examples."""
    cands = sorted(set(refs))
    truth = np.array([cands.index(r) for r in refs])
    arms: dict[str, Any] = {}
    if bertscore:  # one BERTScore call for all arms (one model load)
        allf1 = tm.bert_f1([h for a in hyps.values() for h in a], refs * len(hyps))
    for k, (arm, hy) in enumerate(hyps.items()):
        per = tm.per_sentence(hy, refs, bertscore=False)
        if bertscore:
            per["bertscore"] = allf1[k * len(refs):(k + 1) * len(refs)]
        corpus = tm.corpus_scores(hy, refs, per)
        ret = tm.likelihood_retrieval(ll[arm], truth) if arm in ll else None
        if ret is not None:
            per["retrieval_top1"] = (np.asarray(ret["ranks"]) == 1).astype(float)
            corpus["retrieval_top1"] = ret["top1"]
        arms[arm] = {"corpus": corpus,
                     "per_sentence": {m: v.tolist() for m, v in per.items()},
                     "retrieval": ret,
                     "examples": [{"reference": r, "decoded": h} for r, h in
                                  zip(refs[:8], hy[:8], strict=False)]}
    return arms


def evaluate_text(model: Any, sets: dict[str, Any], *, dec: dict[str, Any], batch_size: int,
                  seed: int, events: bool) -> dict[str, Any]:
    """Free-running decoding of the test segments beside the controls (and, for described
    events, the classifier); the table of every metric with its permutation test."""
    ds, refs = sets["test"], sets["test"].texts
    if dec.get("max_test"):
        n = min(int(dec["max_test"]), len(ds))
        ds, refs = torch.utils.data.Subset(ds, range(n)), refs[:n]
    hyps, ll, teacher_forced = decode_arms(model, ds, refs, dec, batch_size,
                                           noise=MatchedNoise(sets["train"]))
    constant = constant_output(list(sets["train"].texts))
    hyps["constant"] = [constant] * len(refs)
    if events and not dec.get("max_test"):  # a classifier picking the description: a baseline
        hyps["classifier"] = classifier_baseline(sets, seed)
    ridge: dict[str, Any] = {}
    probe: dict[str, Any] = {}
    if not events:  # the non-neural decoder: ridge from word windows to word vectors
        try:
            hyps["ridge"], ll["ridge"], ridge = ridge_text(sets, sorted(set(refs)), len(refs))
        except (ImportError, DataError) as e:  # said in the results and the summary
            ridge = {"not_run": str(e)}
        if not dec.get("prefix_probe", True):  # said in the results and the summary
            probe = {"not_run": "decode.prefix_probe=false"}
        else:
            try:  # what the prefix carries of each word
                probe = prefix_probe(model, sets, seed=seed)
            except DataError as e:
                probe = {"not_run": str(e)}
    arms = score_arms(hyps, ll, refs, bertscore=bool(dec.get("bertscore", True)))
    seen = {w.lower() for t in sets["train"].texts for w in t.split()}
    for arm, hy in hyps.items():
        arms[arm]["word_recall"] = tm.word_recall(hy, refs, seen)
    n_texts = len(set(refs))
    test_words = {w.lower() for t in refs for w in t.split()}
    return {"split": "test", "n_segments": len(refs), "n_sentences": n_texts, "seed": seed,
            "teacher_forced": teacher_forced, "decode": dict(dec),
            "noise_control": "phase-randomised training segments (spectrum and cross-spectra "
                             "of the training split)",
            "shuffled_control": "the brain data of another test sentence of the closest "
                                "length (words)",
            "constant_output": constant, "ridge_decoder": ridge, "prefix_probe": probe,
            "source": "events" if events else "sentences",
            "arms": arms, "table": tm.comparison_table(arms, controls=list(CONTROLS),
                                                       metrics=TABLE_METRICS[events],
                                                       groups=refs),
            "permutation_unit": "distinct text (each segment's differences averaged within "
                                "its sentence first)",
            "retrieval_chance_top1": 1.0 / n_texts,
            "test_words": len(test_words), "test_words_unseen": len(test_words - seen)}


def summary(res: dict[str, Any]) -> list[str]:
    """The lines ``neuroseq finetune`` prints for a text-decoding result."""
    arms = list(res["arms"])
    mode = "teacher-forced" if res.get("teacher_forced") else "free-running"
    lines = [f"decoded {mode} on the {res['split']} split ({res['n_segments']} segments, "
             f"{res['n_sentences']} distinct texts, seed {res['seed']}, LLM "
             f"{res.get('llm', '?')}; controls: matched noise, shuffled brain data, LLM only; "
             f"baseline: constant {res.get('constant_output')!r})",
             f"{'metric':<12}" + "".join(f"{a:>12}" for a in arms) + "  beats controls"]
    for row in res["table"]:
        lines.append(f"{row['metric']:<12}" + "".join(
            f"{row[a]:>12.3f}" if row[a] is not None else f"{'—':>12}" for a in arms) +
            f"  {'yes' if row['beats_all_controls'] else 'no'}")
    if "not_run" in res.get("ridge_decoder", {}):
        lines.append(f"ridge decoder not run: {res['ridge_decoder']['not_run']}")
    pp = res.get("prefix_probe") or {}
    if "not_run" in pp:
        lines.append(f"prefix probe not run: {pp['not_run']}")
    elif pp.get("chance"):
        def num(v: float | None) -> str:
            return "—" if v is None else f"{v:.3f}"
        lines.append(f"word identity from the quantized prefix (linear probe, {pp['word_types']}"
                     f" word types, {pp['test_windows']} test words): balanced accuracy "
                     f"{num(pp['quantized_prefix'])}, encoder frames before the quantizer "
                     f"{num(pp.get('encoder_features'))}, raw signal {num(pp['raw_signal'])}, "
                     f"chance {pp['chance']:.3f}")
    ret = res["arms"]["model"]["retrieval"]
    lines.append(f"retrieval by likelihood: top-1 {ret['top1']:.3f} (chance "
                 f"{ret['chance_top1']:.3f}), mean rank {ret['mean_rank']:.2f} of "
                 f"{ret['n_candidates']}; details in results.json")
    return lines
