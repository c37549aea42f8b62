"""Random 306 x 256 windows per second: zarr store vs an in-memory array, side by side.

Run: ``python benchmarks/bench_store.py [--minutes 20] [--n 2000] [--cache-fraction 0.25]``.
The store holds simulated 306-channel MEG at 100 Hz (two recordings); windows start at uniformly
random samples.  The chunk cache is measured twice: holding the whole corpus (the best case,
e.g. a corpus that fits in memory) and holding ``--cache-fraction`` of it (the usual case for a
corpus larger than memory: most random windows miss).  Results also go to
``benchmarks/results/store.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")


def _rate(fn, starts) -> float:
    t = time.perf_counter()
    for rid, s in starts:
        fn(rid, s)
    return len(starts) / (time.perf_counter() - t)


def main() -> None:
    from neuroseq.data.preparation import prepare
    from neuroseq.data.simulate import simulate_meg
    from neuroseq.data.store import Store

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=20.0, help="minutes per recording")
    ap.add_argument("--n", type=int, default=2000, help="windows per measurement")
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--cache-fraction", type=float, default=0.25,
                    help="chunk cache as a fraction of the decoded corpus")
    ap.add_argument("--out", default="benchmarks/results/store.json")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp())
    paths, arrays = [], {}
    for i in range(2):
        rec = simulate_meg(args.minutes * 60, 100.0, seed=i, subject=f"0{i + 1}", n_sources=20)
        p = tmp / f"sub-0{i + 1}_task-bench_meg.fif"
        rec.save_fif(p)
        paths.append(p)
    rng = np.random.default_rng(0)
    results = []
    for compression in ("none", "lz4"):
        store = prepare(paths, tmp / f"{compression}.zarr", compression=compression, n_jobs=2)
        for rid in store.ids:
            arrays[rid] = store.read(rid)
        n = {rid: store.n_samples(rid) for rid in store.ids}
        starts = [(rid, int(rng.integers(0, n[rid] - args.window)))
                  for rid in rng.choice(store.ids, args.n)]
        w = args.window
        mem = _rate(lambda rid, s, w=w: arrays[rid][:, s:s + w].copy(), starts)
        cold = Store(store.path, cache_mb=0)
        r_cold = _rate(lambda rid, s, st=cold, w=w: st.read(rid, s, s + w), starts)
        corpus_mb = sum(a.nbytes for a in arrays.values()) / 2**20
        rates = {}
        for key, mb in (("whole", corpus_mb * 1.1), ("part", corpus_mb * args.cache_fraction)):
            st = Store(store.path, cache_mb=mb)
            _rate(lambda rid, s, st=st, w=w: st.read(rid, s, s + w), starts)  # fill the cache
            rates[key] = _rate(lambda rid, s, st=st, w=w: st.read(rid, s, s + w), starts)
        size = sum(f.stat().st_size for f in Path(store.path).rglob("*") if f.is_file())
        results.append((compression, mem, r_cold, rates["whole"], rates["part"], size,
                        corpus_mb))

    hours = 2 * args.minutes / 60
    print(f"\nrandom {306}x{args.window} float32 windows/s, corpus {hours:.2f} h of 306-ch MEG "
          f"at 100 Hz ({len(paths)} recordings), {args.n} windows each\n")
    frac = f"cache {args.cache_fraction:.0%}"
    print(f"{'store':<10}{'in-memory':>12}{'no cache':>12}{'ratio':>8}"
          f"{'cache 100%':>12}{'ratio':>8}{frac:>12}{'ratio':>8}{'size MB':>10}")
    rows = []
    for comp, mem, cold, whole, part, size, corpus_mb in results:
        print(f"{comp:<10}{mem:>12.0f}{cold:>12.0f}{cold / mem:>8.3f}{whole:>12.0f}"
              f"{whole / mem:>8.3f}{part:>12.0f}{part / mem:>8.3f}{size / 2**20:>10.1f}")
        rows.append({"compression": comp, "in_memory_per_s": mem, "no_cache_per_s": cold,
                     "cache_whole_per_s": whole, "cache_part_per_s": part,
                     "ratio_no_cache": cold / mem, "ratio_cache_whole": whole / mem,
                     "ratio_cache_part": part / mem, "size_mb": size / 2**20,
                     "decoded_corpus_mb": corpus_mb})
    print(f"\nno cache = every read decodes its zarr chunk(s); cache = the Store's LRU chunk "
          f"cache after one pass over the same windows, holding the whole decoded corpus "
          f"(100 %) or {args.cache_fraction:.0%} of it.")
    from neuroseq.atomic import write_json_atomic

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, {
        "command": "python benchmarks/bench_store.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": f"{os.cpu_count()} CPU cores", "corpus_hours": hours,
        "windows": args.n, "window": args.window, "cache_fraction": args.cache_fraction,
        "rows": rows})


if __name__ == "__main__":
    main()
