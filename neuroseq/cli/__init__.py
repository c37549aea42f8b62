"""The ``neuroseq`` command line: one module per stage, each only parses and calls the library.

=============  ===============================================================
module         commands
=============  ===============================================================
``data``       ``info``, ``prepare``, ``simulate``
``tokenize``   ``tokenize fit|encode|decode|eval``
``train``      ``pretrain``, ``finetune`` (any registered system)
``generate``   ``generate``, ``forecast``
``evaluate``   ``evaluate``, ``report``
``experiments`` ``quickstart``, ``sweep``
``convert``    ``convert megxl`` (published weights → a run)
=============  ===============================================================
"""

from __future__ import annotations

import logging
import re
import sys

import click

from neuroseq import __version__
from neuroseq.errors import MissingFieldsError, NeuroseqError

#: Python argument → command-line flag, for errors raised by the library
FLAGS = {"sfreq": "--sfreq", "ch_names": "--ch-names", "ch_types": "--ch-types"}
#: how library messages name Python arguments → how the command line names them
PHRASES = {"on_flat='drop'": "--on-flat drop", "overwrite=True": "--overwrite"}


def cli_phrasing(message: str) -> str:
    """A library error message with its Python arguments named as command-line flags, and
    paths shown as paths (not ``PosixPath('…')``)."""
    for python, flag in PHRASES.items():
        message = message.replace(python, flag)
    return re.sub(r"\b(?:Posix|Windows)?Path\((['\"])(.*?)\1\)", r"\2", message)


class _Group(click.Group):
    """Turns neuroseq errors into one clear line and exit code 2 (no traceback)."""

    def invoke(self, ctx: click.Context):  # noqa: D102
        try:
            return super().invoke(ctx)
        except MissingFieldsError as err:
            flags = " ".join(f"{FLAGS[f]} ..." for f in err.fields)
            click.secho(f"error: {err.where}: array data needs "
                        f"{', '.join(FLAGS[f] for f in err.fields)}. Pass {flags} (channel "
                        "names and types comma-separated, types mag/grad/eeg), or write a JSON "
                        'sidecar {"sfreq": ..., "ch_names": [...], "ch_types": [...]} with the '
                        "file's name and .json.", fg="red", err=True)
            sys.exit(2)
        except NeuroseqError as err:
            click.secho(f"error: {cli_phrasing(str(err))}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="neuroseq")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """neuroseq: MEG and EEG as a language."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("neuroseq").setLevel(level)


def _register() -> None:
    from neuroseq.cli import convert, data, decode, evaluate, experiments, generate, tokenize, train

    for cmd in (data.info, data.prepare, data.simulate, tokenize.tokenize, train.pretrain,
                train.finetune, generate.generate, generate.forecast, evaluate.evaluate,
                evaluate.report, experiments.quickstart, experiments.sweep, decode.decode,
                convert.convert):
        main.add_command(cmd)


_register()

if __name__ == "__main__":
    main()
