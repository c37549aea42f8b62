"""Random 306 x 256 windows per second: zarr store vs an in-memory array, side by side.

Run: ``python benchmarks/bench_store.py [--minutes 20] [--n 2000]``.  The store holds simulated
306-channel MEG at 100 Hz (two recordings); windows start at uniformly random samples.
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
        warm = Store(store.path, cache_mb=1024)
        _rate(lambda rid, s, st=warm, w=w: st.read(rid, s, s + w), starts)  # fill the cache
        r_warm = _rate(lambda rid, s, st=warm, w=w: st.read(rid, s, s + w), starts)
        size = sum(f.stat().st_size for f in Path(store.path).rglob("*") if f.is_file())
        results.append((compression, mem, r_cold, r_warm, size))

    hours = 2 * args.minutes / 60
    print(f"\nrandom {306}x{args.window} float32 windows/s, corpus {hours:.2f} h of 306-ch MEG "
          f"at 100 Hz ({len(paths)} recordings), {args.n} windows each\n")
    print(f"{'store':<10}{'in-memory':>12}{'store cold':>12}{'ratio':>8}"
          f"{'store cached':>14}{'ratio':>8}{'size MB':>10}")
    for comp, mem, cold, warm, size in results:
        print(f"{comp:<10}{mem:>12.0f}{cold:>12.0f}{cold / mem:>8.3f}{warm:>14.0f}"
              f"{warm / mem:>8.3f}{size / 2**20:>10.1f}")
    print("\ncold = every read decodes its zarr chunk(s) (cache off); cached = LRU chunk cache "
          "of the Store, after one pass over the same windows.")


if __name__ == "__main__":
    main()
