"""`python -m edge` runs the legwake command line."""

from edge.cli import main

main()
