"""Refit a finished EEGPT sweep's loss curves without retraining: power law and flat line.

Reads the rows of a ``sweep.json`` (``neuroseq sweep`` output), recomputes the fits
(:func:`neuroseq.experiments.eegpt_sweep.fits`: each power law beside a flat line, judged by
leave-one-out error) and writes them back; in a Markdown report next to it, the fit lines
(from "Power laws" to the next blank-line-separated block) are replaced.

Run: ``python benchmarks/refit_eegpt_sweep.py benchmarks/results/eegpt_sweep.json``.
"""

from __future__ import annotations

import json
from pathlib import Path


def main() -> None:
    import argparse

    from neuroseq.atomic import write_json_atomic, write_text_atomic
    from neuroseq.experiments.eegpt_sweep import fits, table

    ap = argparse.ArgumentParser(description="Refit a finished EEGPT sweep's loss curves "
                                             "(power law and flat line) without retraining.")
    ap.add_argument("sweep_json", type=Path, help="The sweep.json that `neuroseq sweep` wrote.")
    path = ap.parse_args().sweep_json
    summary = json.loads(path.read_text())
    summary["fits"] = fits(summary["rows"])
    write_json_atomic(path, summary)
    md = path.with_suffix(".md")
    if md.is_file():
        text = md.read_text()
        new = table(summary)
        old_fits = text[text.index("Power laws"):]
        old_fits = old_fits[:old_fits.index("\n\n", old_fits.index("\n- ")) + 1]
        text = text.replace(old_fits, new[new.index("Power laws"):])
        write_text_atomic(md, text)
    print(table(summary))


if __name__ == "__main__":
    main()
