"""The `legwake` command line: a thin click layer over the library.

Each command parses its options, calls into edge/ or firmware_sim/, and turns
their errors into a one-line message and a non-zero exit; no logic lives here.
"""

from __future__ import annotations

import json

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="legwake")
def main() -> None:
    """legwake: posture-break nudges before a leg falls asleep."""


@main.command("check-config")
@click.argument("path", required=False)
def check_config(path: str | None) -> None:
    """Check a configuration file and print the effective configuration as TOML.

    PATH defaults to $LEGWAKE_CONFIG, else ./config.toml, else the built-in defaults.
    Secrets print as "***". On errors, prints each one to stderr and exits 2.
    """
    from edge.config import ConfigError, config_to_toml, load_config

    try:
        cfg = load_config(path)
    except ConfigError as error:
        for problem in error.errors:
            click.echo(problem, err=True)
        raise SystemExit(2) from None
    click.echo(config_to_toml(cfg, redact=True), nl=False)


@main.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--stats", "show_stats", is_flag=True,
              help="Decode the whole trace and print one JSON object of per-source counters.")
def replay(trace: str, show_stats: bool) -> None:
    """Run a recorded TRACE through the decoders, as fast as possible."""
    from edge.sources.replay import trace_stats
    from edge.sources.trace import TraceError, TraceReader

    if not show_stats:
        raise click.UsageError("say what to output: --stats")
    try:
        reader = TraceReader(trace)
    except (OSError, TraceError) as error:
        raise click.ClickException(str(error)) from None
    stats = trace_stats(reader)
    if reader.damage.total:
        click.echo(f"{trace}: damaged lines: {reader.damage}", err=True)
    click.echo(json.dumps(stats, sort_keys=True))
