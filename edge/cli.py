"""The `legwake` command line: a thin click layer over the library.

Each command parses its options, calls into edge/ or firmware_sim/, and turns
their errors into a one-line message and a non-zero exit; no logic lives here.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="legwake")
def main() -> None:
    """legwake: posture-break nudges before a leg falls asleep."""
