"""``python -m metacrm`` is the ``metacrm`` command."""

from metacrm.cli import main

main()
