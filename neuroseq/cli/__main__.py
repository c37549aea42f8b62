"""``python -m neuroseq.cli``: the same as the ``neuroseq`` command."""

from neuroseq.cli import main

main()
