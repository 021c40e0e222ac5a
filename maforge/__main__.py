"""``python -m maforge``: the same command line as the ``maforge`` script."""

from maforge.cli import main

main()
