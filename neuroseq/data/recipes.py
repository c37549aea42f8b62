"""Recipes for MEG-XL's pretraining corpora: which files of a downloaded BIDS tree, and which
go to validation.

MEG-XL pretrains on CamCAN, MOUS and SMN4Lang (``../shared/research/megxl_braintotext.md``
§1.4, from the original code's config); none can be downloaded here, so each recipe is tested
on a fixture written in that corpus's layout:

- **CamCAN** (cc700, release005, ``BIDSsep``): one BIDS root per task under ``BIDSsep/``
  (``rest/``, ``smt/``), ``sub-CC110033/ses-rest/meg/sub-CC110033_ses-rest_task-rest_meg.fif``;
  MEGIN/Elekta 306 channels; tasks ``rest`` and ``smt``; three validation subjects (the
  original's list is not published; ours are the three last subjects in sorted order unless
  ``val_subjects`` is given).
- **MOUS** (Schoffelen et al. 2019, Donders DSC_3011020.09_236): one BIDS root,
  ``sub-A2002/meg/sub-A2002_task-auditory_meg.ds`` (CTF 275); task ``auditory``; validation
  subjects A2120–A2122.
- **SMN4Lang** (OpenNeuro ds004078): one BIDS root, ``sub-01/meg/sub-01_task-RDR_run-1_meg.fif``
  (MEGIN/Elekta 306); task ``RDR``, runs 1–60; validation runs 56–60.

Every recipe keeps the MEG channels only and goes with MEG-XL's preprocessing
(:func:`~neuroseq.data.preprocess.megxl_pipeline`): ``neuroseq prepare ROOT --recipe camcan -o
STORE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroseq.data.readers import find_bids_recordings, is_bids_root
from neuroseq.errors import FormatError


@dataclass(frozen=True)
class CorpusRecipe:
    """Where a corpus's recordings are and which of them validate.

    Attributes
    ----------
    name, reference : str
        The corpus and where it comes from.
    roots : tuple of str
        BIDS roots relative to the path a user gives (``""``: that path itself).
    tasks : tuple of str
        BIDS tasks to read.
    runs : tuple of int | None
        Runs to read (None: all).
    is_val : callable
        ``(bids_path, all_subjects) -> bool``: whether a recording is a validation recording.
    """

    name: str
    reference: str
    roots: tuple[str, ...]
    tasks: tuple[str, ...]
    is_val: Callable[[Any, list[str]], bool]
    runs: tuple[int, ...] | None = None
    layout: str = field(default="")

    def bids_roots(self, path: str | Path) -> list[Path]:
        """The BIDS roots under ``path``; a clear error naming the expected layout."""
        path = Path(path)
        roots = [path / r if r else path for r in self.roots]
        present = [r for r in roots if is_bids_root(r)]
        if not present:
            raise FormatError(
                f"{path} does not hold the {self.name} BIDS tree: expected "
                f"{', '.join(str(r / 'dataset_description.json') for r in roots)} "
                f"(layout: {self.layout}).")
        return present

    def sources(self, path: str | Path, subjects: list[str] | None = None
                ) -> tuple[list[Any], list[str]]:
        """The recordings to read (``mne_bids.BIDSPath``; of ``subjects`` only, if given) and
        the file names of those that validate (decided over the whole tree, so a subset keeps
        the same validation subjects)."""
        found = []
        for root in self.bids_roots(path):
            found += [p for p in find_bids_recordings(root, tasks=list(self.tasks),
                                                      datatypes=["meg"])
                      if self.runs is None or (p.run is not None and int(p.run) in self.runs)]
        if not found:
            raise FormatError(f"no {self.name} recording of tasks {list(self.tasks)} under "
                              f"{path} (layout: {self.layout}).")
        every = sorted({p.subject for p in found})
        val = [p.fpath.name for p in found if self.is_val(p, every)]
        if subjects:
            found = [p for p in found if p.subject in subjects]
            if not found:
                raise FormatError(f"no {self.name} recording of subject(s) {subjects} under "
                                  f"{path}; subjects there: {every[:5]}…")
            val = [v for v in val if any(p.fpath.name == v for p in found)]
        return found, val


def _camcan_val(p: Any, subjects: list[str]) -> bool:
    return p.subject in subjects[-3:]


RECIPES: dict[str, CorpusRecipe] = {
    "camcan": CorpusRecipe(
        name="CamCAN", reference="Taylor et al. 2017; cc700 release005 BIDSsep",
        roots=("rest", "smt"), tasks=("rest", "smt"), is_val=_camcan_val,
        layout="BIDSsep/{rest,smt}/sub-CC*/ses-{rest,smt}/meg/"
               "sub-CC*_ses-*_task-*_meg.fif"),
    "mous": CorpusRecipe(
        name="MOUS", reference="Schoffelen et al. 2019; Donders DSC_3011020.09_236",
        roots=("",), tasks=("auditory",),
        is_val=lambda p, subs: p.subject in ("A2120", "A2121", "A2122"),
        layout="sub-A*/meg/sub-A*_task-auditory_meg.ds"),
    "smn4lang": CorpusRecipe(
        name="SMN4Lang", reference="Wang et al. 2022; OpenNeuro ds004078",
        roots=("",), tasks=("RDR",), runs=tuple(range(1, 61)),
        is_val=lambda p, subs: 56 <= int(p.run) <= 60,
        layout="sub-*/meg/sub-*_task-RDR_run-*_meg.fif"),
}


def get_recipe(name: str) -> CorpusRecipe:
    """The recipe called ``name``; an error listing the known ones."""
    if name not in RECIPES:
        raise FormatError(f"unknown corpus recipe {name!r}; known: {sorted(RECIPES)}.")
    return RECIPES[name]
