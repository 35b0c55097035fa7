"""The `legwake` command line: a thin click layer over the library.

Each command parses its options, calls into edge/ or firmware_sim/, and turns
their errors into a one-line message and a non-zero exit; no logic lives here.
"""

from __future__ import annotations

import contextlib
import json

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="legwake")
def main() -> None:
    """legwake: posture-break nudges before a leg falls asleep."""


def _load_config(path: str | None):
    """The configuration, or every error on stderr and exit 2 (as check-config does)."""
    from edge.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as error:
        for problem in error.errors:
            click.echo(problem, err=True)
        raise SystemExit(2) from None


def _checked_config(path: str | None, command: str | None, warn):
    """The configuration, with the files that `command` (None: every command) will use
    checked (edge.config.check_environment): each warning passed to `warn`, and on errors,
    every one on stderr and exit 2, as for an invalid configuration."""
    from edge.config import ConfigError, check_environment, default_config_path

    config = _load_config(path)
    try:
        warnings = check_environment(config, for_command=command,
                                     config_file=path if path else default_config_path())
    except ConfigError as error:
        for line in error.warnings:
            warn(line)
        for problem in error.errors:
            click.echo(problem, err=True)
        raise SystemExit(2) from None
    for line in warnings:
        warn(line)
    return config


def _log_warning(line: str) -> None:
    import logging

    logging.getLogger("edge.cli").warning(line)


@contextlib.contextmanager
def _publisher(cfg):
    """The MQTT publisher, started, and stopped (offline published) on the way out."""
    from edge.publish import MqttPublisher

    publisher = MqttPublisher(cfg.mqtt, cfg.desk)
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop()


config_option = click.option(
    "--config", "config_path", metavar="PATH", default=None,
    help="Configuration file (default: $LEGWAKE_CONFIG, else ./config.toml, else defaults).")


def logging_options(command):
    """--log-format and --log-level, for the commands that run until stopped."""
    command = click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
                           default="info", show_default=True)(command)
    return click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                        show_default=True,
                        help="Log lines as text, or one JSON object per line.")(command)


@main.command("check-config")
@click.argument("path", required=False)
@click.option("--for", "command", type=click.Choice(["run", "collect", "dashboard"]),
              default=None, help="Check only the files this command uses (default: those of "
                                 "every command).")
def check_config(path: str | None, command: str | None) -> None:
    """Check a configuration file and the files it names, and print the effective
    configuration as TOML.

    PATH defaults to $LEGWAKE_CONFIG, else ./config.toml, else the built-in defaults.
    Besides the values, it checks what `legwake run`, `collect` and `dashboard` check at
    start-up: the TLS files can be read, the directories of the outbox and the logs can be
    written (or created). Secrets print as "***". On errors, prints each one to stderr and
    exits 2; a warning (a password in a file that others can read) goes to stderr too.
    """
    from edge.config import config_to_toml

    config = _checked_config(path, command,
                             lambda line: click.echo(f"warning: {line}", err=True))
    click.echo(config_to_toml(config, redact=True), nl=False)


@main.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@config_option
@click.option("--stats", "show_stats", is_flag=True,
              help="Print one JSON object of per-source decoder counters at the end.")
@click.option("--events", "events_out", metavar="OUT", default=None,
              help="Write the event stream (JSON Lines: postures, sensors, breaks, alerts) to "
                   "OUT; - is standard output.")
@click.option("--mqtt", is_flag=True,
              help="Also publish as the live agent would, to the configured broker.")
@click.option("--db", "db_path", metavar="PATH", default=None,
              help="Also log it (sessions, minutes, postures, alerts) to this SQLite log, as "
                   "the live agent logs to [log] path. Replaying a trace again changes nothing.")
def replay(trace: str, config_path: str | None, show_stats: bool,
           events_out: str | None, mqtt: bool, db_path: str | None) -> None:
    """Run a recorded TRACE through the same pipeline as the live agent, as fast as possible.

    Damage in the trace (lines that cannot be read, a gzip file cut short or corrupt) is
    skipped and reported in one warning on stderr, and what could be read is replayed;
    a trace whose header cannot be read is refused (exit 1).
    """
    from edge.sources.replay import stats_of, trace_stats
    from edge.sources.trace import TraceError, TraceReader

    if not (show_stats or events_out or mqtt or db_path):
        raise click.UsageError("say what to output: --stats, --events OUT, --mqtt and/or "
                               "--db PATH")
    try:
        reader = TraceReader(trace)
    except (OSError, TraceError) as error:
        raise click.ClickException(str(error)) from None
    if events_out or mqtt or db_path:
        from edge.agent import replay_trace
        from edge.sinks import JsonLinesSink, MqttSink

        cfg = _load_config(config_path)
        with contextlib.ExitStack() as stack:
            sinks: list = []
            if events_out:
                out = stack.enter_context(click.open_file(events_out, "w", encoding="utf-8"))
                sinks.append(JsonLinesSink(out))
            publisher = stack.enter_context(_publisher(cfg)) if mqtt else None
            if publisher is not None:
                sinks.append(MqttSink(publisher))
            log = _replay_log(stack, cfg, reader, db_path) if db_path else None
            if log is not None:
                sinks.append(log)
            agent = replay_trace(reader, cfg, sinks)
            if log is not None:
                log.close(reason="trace end", ended_utc=agent.now_utc)
            if publisher is not None and not publisher.wait_until_sent(timeout=30):
                click.echo("the broker did not take every message within 30 s: the rest "
                           f"stays in the outbox ({cfg.mqtt.outbox_path})", err=True)
        stats = stats_of(agent.pipeline.decoders, reader)
    else:
        stats = trace_stats(reader)
    if reader.damage.total:
        click.echo(f"warning: {trace}: damaged, the rest was replayed: {reader.damage}",
                   err=True)
    if show_stats:
        click.echo(json.dumps(stats, sort_keys=True))


def _replay_log(stack: contextlib.ExitStack, cfg, reader, db_path: str):
    """The log a replay writes to: its session is the trace's (same prefix every time)."""
    import sqlite3

    from edge.agent import session_prefix, trace_start
    from edge.sinks import StoreSink
    from edge.store import Store

    started = trace_start(reader.header.started)
    try:
        store = stack.enter_context(Store(db_path))
    except (OSError, sqlite3.Error, RuntimeError) as error:
        raise click.ClickException(f"cannot open the log {db_path}: {error}") from None
    return StoreSink.for_desk(store, cfg, session=session_prefix(started), started_utc=started,
                              origin="replay")


@main.command()
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=5.0,
              show_default=True, help="Seconds to listen for advertisements.")
@click.option("--sim-hci", metavar="TRANSPORT", default=None, envvar="LEGWAKE_SIM_HCI",
              help="Scan through the simulated radio's HCI transport "
                   "(e.g. tcp-client:127.0.0.1:7455) instead of this machine's adapter "
                   "[env: LEGWAKE_SIM_HCI].")
def scan(timeout_s: float, sim_hci: str | None) -> None:
    """List the LegIMU units advertising nearby: name, address, placement, RSSI."""
    import asyncio

    from bleak.exc import BleakError

    from edge.sources.ble import scan_units

    backend_kwargs: dict[str, object] = {}
    backend = None
    if sim_hci:
        from firmware_sim.radio import BumbleScanner

        backend, backend_kwargs = BumbleScanner, {"bumble": {"hci": sim_hci}}
    try:
        units = asyncio.run(scan_units(timeout_s, backend, **backend_kwargs))
    except (BleakError, OSError) as error:
        where = "the simulated radio" if sim_hci else "this machine's Bluetooth adapter (BlueZ)"
        raise click.ClickException(f"scan failed: cannot use {where}: {error}") from None
    for unit in units:
        click.echo(f"{unit['name'] or '?'}\t{unit['address']}\t{unit['placement'] or '?'}"
                   f"\t{unit['rssi']} dBm")
    if not units:
        click.echo("no LegIMU unit found", err=True)


@main.command()
@config_option
@click.option("--seconds", "shake_s", type=click.FloatRange(0.5, 60), default=5.0,
              show_default=True, help="How long each leg is shaken (the recording window).")
@click.option("--scan-seconds", "scan_s", type=click.FloatRange(0.5, 60), default=5.0,
              show_default=True, help="How long to listen for advertising units first.")
@click.option("--yes", is_flag=True,
              help="Write the configuration file without asking first.")
def pair(config_path: str | None, shake_s: float, scan_s: float, yes: bool) -> None:
    """Tell this person's thigh units from the others advertising nearby: shake one leg,
    then the other, and their addresses go to [imu] left and right of the configuration
    file (only those two values change; every comment and other line is kept).

    The file is the one the agent reads: --config, else $LEGWAKE_CONFIG, else
    ./config.toml (created with an [imu] section if missing). Each prompt waits for Enter
    (read from standard input). Stop the agent first: a unit connected to it does not
    advertise. The bleak backend is [ble] backend's.
    """
    import asyncio
    from pathlib import Path

    from bleak.exc import BleakError

    from edge.config import Config, ConfigError, default_config_path
    from edge.pair import PairingError, pair_units, write_imu_units
    from edge.sources.configured import ble_backends

    target = Path(config_path) if config_path else default_config_path() or Path("config.toml")
    cfg = _load_config(str(target)) if target.exists() else Config()
    if cfg.imu.transport != "ble":
        raise click.ClickException(f"[imu] transport is {cfg.imu.transport!r}: the agent "
                                   "reaches no thigh unit over BLE, so there is nothing to pair")
    backends = ble_backends(cfg)

    async def ready(side: str, units) -> None:
        names = ", ".join(unit.name for unit in units)
        click.echo(f"{side} thigh: {len(units)} unit{'s' * (len(units) != 1)} advertising "
                   f"({names}).")
        click.prompt(f"Start shaking your {side.upper()} leg (the other one still), keep "
                     "shaking, and press Enter", default="", show_default=False)

    def recording(side: str) -> None:
        click.echo(f"Recording {shake_s:g} s: keep shaking your {side} leg ...")

    try:
        chosen = asyncio.run(pair_units(scan_s=scan_s, shake_s=shake_s, ready=ready,
                                        on_recording=recording, mtu=cfg.imu.mtu, **backends))
    except PairingError as error:
        raise click.ClickException(str(error)) from None
    except (BleakError, OSError) as error:
        where = ("the simulated radio" if cfg.ble.backend == "sim"
                 else "this machine's Bluetooth adapter (BlueZ)")
        raise click.ClickException(f"pairing failed: cannot use {where}: {error}") from None
    for motion in chosen.values():
        click.echo(f"{motion.unit.placement}: {motion.describe()}")
    units = {side: motion.unit.address for side, motion in chosen.items()}
    if not yes:
        click.confirm(f"Write [imu] left = \"{units['left']}\" and right = "
                      f"\"{units['right']}\" to {target}?", default=True, abort=True)
    try:
        written = write_imu_units(target, units)
    except ConfigError as error:
        for problem in error.errors:
            click.echo(problem, err=True)
        raise SystemExit(2) from None
    except OSError as error:
        raise click.ClickException(f"cannot write {target}: {error}") from None
    click.echo(f"{target}: [imu] left = \"{written.imu.left}\" ({chosen['left'].unit.name}), "
               f"right = \"{written.imu.right}\" ({chosen['right'].unit.name})")


def _sitter(cfg, scenario: str | None, weight_kg: float | None, seat: str | None,
            seed: int | None, body_model: str | None = None,
            mat_orientation: str | None = None):
    """The simulated sitter: a scenario name or JSON file, over the [sim] defaults."""
    from firmware_sim.scenario import Scenario, get_scenario
    from firmware_sim.simulation import Sitter

    settings = cfg.sim
    name = scenario or settings.scenario
    seed = settings.seed if seed is None else seed
    try:
        if name.endswith(".json"):
            with open(name, encoding="utf-8") as f:
                plan = Scenario.from_dict(json.load(f))
        else:
            plan = get_scenario(name, seed=seed)
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    return Sitter(plan, weight_kg=weight_kg or settings.weight_kg, seat=seat or settings.seat,
                  seed=seed, body_model=body_model or settings.body,
                  mat_orientation=mat_orientation or settings.mat_orientation)


@main.command()
@click.argument("scenario", required=False)
@config_option
@click.option("--list", "list_scenarios", is_flag=True, help="List the scenarios and exit.")
@click.option("--trace", "trace_out", metavar="OUT", default=None,
              help="Write the whole sitting to this trace file (.jsonl or .jsonl.gz) as fast "
                   "as possible, instead of running the devices live.")
@click.option("--speed", type=click.FloatRange(0.1, 1000), default=None,
              help="Time compression of the live devices ([sim] speed).")
@click.option("--weight-kg", type=click.FloatRange(45, 130), default=None,
              help="The sitter's body weight ([sim] weight_kg).")
@click.option("--seat", type=click.Choice(["cushioned", "hard"]), default=None,
              help="The seat ([sim] seat).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Varies the sitter and the scenario ([sim] seed).")
@click.option("--body", "body_model", type=click.Choice(["standard", "anthropometric"]),
              default=None, help="The body model: standard (firmware_sim/body.py) or "
                                 "anthropometric (firmware_sim/anthropometry.py) ([sim] body).")
@click.option("--imu", "imu_transport", type=click.Choice(["ble", "serial", "none"]),
              default=None, help="How the thigh units are reached ([imu] transport).")
@click.option("--duration", "duration_s", type=click.FloatRange(min=1), default=None,
              help="Stop after this many scenario seconds (default: the whole scenario).")
@click.option("--mat-orientation", type=click.Choice(["normal", "rotated_180", "mirrored",
                                                     "rotated_180_mirrored"]), default=None,
              help="How the simulated mat lies ([sim] mat_orientation).")
@click.option("--haptic/--no-haptic", default=None,
              help="Thigh units with the v1.1 haptic characteristic, or v1 units without it "
                   "([sim] haptic).")
def sim(scenario: str | None, config_path: str | None, list_scenarios: bool,
        trace_out: str | None, speed: float | None, weight_kg: float | None, seat: str | None,
        seed: int | None, body_model: str | None, imu_transport: str | None,
        duration_s: float | None, mat_orientation: str | None, haptic: bool | None) -> None:
    """Run the simulated seat mat and thigh sensors playing SCENARIO.

    SCENARIO is a scenario name (see --list) or a scenario JSON file; default [sim] scenario.
    Live, it prints the mat's serial path and the units' BLE names and the radio's HCI
    transport, then each buzz a unit plays, until the scenario ends or Ctrl-C. With --trace it writes the
    sitting, with its ground truth, to a trace file instead.
    """
    import asyncio

    from firmware_sim.scenario import SCENARIOS
    from firmware_sim.simulation import LiveDesk, write_simulated_trace

    if list_scenarios:
        for name in SCENARIOS:
            click.echo(name)
        return
    cfg = _load_config(config_path)
    settings = cfg.sim
    sitter = _sitter(cfg, scenario, weight_kg, seat, seed, body_model, mat_orientation)
    plan = sitter.scenario
    imu_transport = imu_transport or cfg.imu.transport
    if trace_out:
        chunks = write_simulated_trace(trace_out, sitter, mat_rate_hz=settings.mat_rate_hz,
                                       imu_rate_hz=cfg.imu.rate_hz, imu_mtu=cfg.imu.mtu,
                                       imu_transport=imu_transport, duration_s=duration_s)
        click.echo(f"{trace_out}: {chunks} chunks, {(duration_s or plan.duration_s) / 60:.1f} "
                   f"min of {plan.name!r}")
        return

    async def play() -> None:
        desk = LiveDesk(sitter, speed=speed or settings.speed, mat_rate_hz=settings.mat_rate_hz,
                        imu_transport=imu_transport, hci=settings.hci,
                        mat_link=settings.mat_pty_link or None, until_s=duration_s,
                        haptic=settings.haptic if haptic is None else haptic,
                        on_buzz=lambda unit, pattern, pct: click.echo(
                            f"buzz: {unit} {pattern} at {pct}%"))
        async with desk:
            click.echo(f"serial: {desk.serial_path}")
            for unit in desk.units:
                click.echo(f"ble: {unit.name} {unit.address.to_string(False)}")
            if desk.hci_client:
                click.echo(f"hci: {desk.hci_client}")
            click.echo(f"scenario: {plan.name}, {desk.duration_s / 60:.1f} min at speed "
                       f"{desk.clock.speed:g} ({desk.duration_s / desk.clock.speed:.0f} s)")
            await desk.run()

    try:
        asyncio.run(play())
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    except OSError as error:
        raise click.ClickException(f"cannot start the simulated devices: {error}") from None


@main.command()
@click.argument("out", metavar="OUT")
@config_option
@click.option("--seconds", type=click.FloatRange(min=0.1), required=True,
              help="How long to record.")
def record(out: str, config_path: str | None, seconds: float) -> None:
    """Record the configured sources to the trace file OUT (.jsonl, or .jsonl.gz)."""
    import asyncio

    from edge.sources.configured import configured_sources
    from edge.sources.recorder import Recorder

    cfg = _load_config(config_path)
    sources = configured_sources(cfg)
    if not sources:
        raise click.ClickException("no source is configured: set [mat] port or [imu] transport")
    recorder = Recorder(out, sources, meta={"site": cfg.desk.site, "desk": cfg.desk.desk})
    try:
        chunks = asyncio.run(recorder.run(seconds))
    except KeyboardInterrupt:
        chunks = recorder.writer.chunks
    click.echo(f"{out}: {chunks} chunks from {', '.join(s.name for s in sources)}")


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def diagnose(config_path: str | None, as_json: bool) -> None:
    """Check this installation: versions, configuration (secrets redacted), serial ports,
    Bluetooth adapter, broker, numba cache. Exits 1 when a check fails."""
    from edge.config import default_config_path
    from edge.diagnose import redacted_config, run_checks

    cfg = _load_config(config_path)
    findings = run_checks(cfg, config_file=config_path or default_config_path())
    if as_json:
        click.echo(json.dumps({"checks": [{"check": f.check, "status": f.status,
                                           "detail": f.detail} for f in findings],
                               "config": redacted_config(cfg)}, indent=2))
    else:
        for finding in findings:
            click.echo(f"{finding.status.upper():4} {finding.check:9} {finding.detail}")
        click.echo("\n# effective configuration (secrets redacted)\n" + redacted_config(cfg),
                   nl=False)
    if any(f.status == "fail" for f in findings):
        raise SystemExit(1)


@main.command()
@config_option
@click.option("--sim", "scenario", metavar="SCENARIO", default=None,
              help="Run on the simulated seat mat and thigh sensors playing SCENARIO "
                   "(a name from `legwake sim --list`, or a scenario JSON file).")
@click.option("--speed", type=click.FloatRange(0.1, 1000), default=None,
              help="With --sim: time compression ([sim] speed).")
@logging_options
def run(config_path: str | None, scenario: str | None, speed: float | None, log_format: str,
        log_level: str) -> None:
    """Run the agent: read the sensors, publish states and alerts over MQTT, until stopped
    (Ctrl-C or SIGTERM: publishes offline and flushes the outbox first)."""
    import asyncio
    import signal

    from edge import live, logs

    logs.configure(log_format, log_level)
    cfg = _checked_config(config_path, "run", _log_warning)

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if scenario:
            sitter = _sitter(cfg, scenario, None, None, None)
            await live.run_simulated(cfg, stop, sitter, speed=speed or cfg.sim.speed)
        else:
            await live.run_agent(cfg, stop)

    try:
        asyncio.run(main_loop())
    except (ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None


@main.command()
@config_option
@logging_options
def collect(config_path: str | None, log_format: str, log_level: str) -> None:
    """Collect every desk's alerts, events and minutes from the broker into the fleet log
    ([collect] db), sharing the work with the other collectors of [collect] group, until
    stopped (Ctrl-C or SIGTERM: what it holds is recorded and acknowledged first)."""
    import signal
    import threading

    from edge import logs
    from edge.collect import CollectorError, run_collector

    logs.configure(log_format, log_level)
    cfg = _checked_config(config_path, "collect", _log_warning)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run_collector(cfg.mqtt, cfg.collect, stop)
    except CollectorError as error:
        raise click.ClickException(str(error)) from None


@main.command()
@config_option
@click.option("--empty-seconds", type=click.FloatRange(1, 120), default=5.0, show_default=True,
              help="How long to read the empty seat.")
@click.option("--upright-seconds", type=click.FloatRange(1, 300), default=60.0,
              show_default=True,
              help="How long to read the sitter sitting upright: the posture is read "
                   "against this minute (the person model is fitted so).")
@click.option("--zero-only", is_flag=True, help="Only zero the empty seat.")
@click.option("--yes", is_flag=True, help="Do not wait for Enter: start reading at once.")
def calibrate(config_path: str | None, empty_seconds: float, upright_seconds: float,
              zero_only: bool, yes: bool) -> None:
    """Zero the mat on the empty seat, then record the sitter's upright baseline.

    Writes [mat] zero_file; the agent reads it at start. Says how the mat lies (the
    front at the back shows in the sitter's load) and whether [mat] orientation agrees.
    """
    import asyncio

    from edge import calibrate as cal
    from edge.estimate.zeroing import NotEmptyError, NotSeatedError

    cfg = _load_config(config_path)
    if not cfg.mat.zero_file:
        raise click.ClickException("[mat] zero_file is empty: say where to write the result")

    async def steps() -> None:
        if not yes:
            click.prompt("Clear the seat (nobody on it), then press Enter", default="",
                         show_default=False)
        click.echo(f"Reading the empty seat for {empty_seconds:g} s ...")
        offsets = cal.empty_zero(await cal.read_counts(cal.mat_source(cfg), empty_seconds), cfg)
        baseline = upright = None
        if not zero_only:
            if not yes:
                click.prompt("Sit upright, feet flat, then press Enter", default="",
                             show_default=False)
            click.echo("Waiting for you to sit down ...")
            counts = await cal.read_counts(cal.mat_source(cfg), upright_seconds,
                                           until=cal.seated(cal.calibration_of(cfg), offsets))
            found, share = cal.front_of(counts, offsets, cfg)
            setting = cfg.mat.orientation
            click.echo("Mat orientation: " + cal.orientation_report(found, share, setting))
            lies = found if setting == "auto" else setting
            baseline = cal.baseline_of(counts, offsets, cfg, orientation=lies)
            upright = cal.upright_features(counts, offsets, cfg, seconds=upright_seconds,
                                           orientation=lies)
        cal.save(cfg.mat.zero_file, offsets, baseline, person=cfg.desk.person, upright=upright)
        click.echo(f"Saved to {cfg.mat.zero_file}: zero of {offsets.size} cells (highest "
                   f"{offsets.max():.0f} counts)"
                   + (f"; upright baseline {baseline.seat_load_n:.0f} N on the seat, "
                      f"{baseline.ischial_load_n:.0f} N on the ischial region" if baseline
                      else "")
                   + ("; and the upright seat features: with the thigh units, the posture "
                      "is read against them" if upright is not None and upright.known("mat")
                      else ""))

    try:
        asyncio.run(steps())
    except (NotEmptyError, NotSeatedError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    except TimeoutError:
        raise click.ClickException("no usable frames from the mat in time: is it plugged in "
                                   f"at {cfg.mat.port}? (`legwake diagnose`)") from None


local_day = click.DateTime(formats=["%Y-%m-%d"])


@main.command()
@click.option("--db", "db_path", metavar="PATH", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="The log (SQLite) to report on; it is only read.")
@click.option("--desk", default=None, help="Only this desk (default: every desk in the log).")
@click.option("--from", "start", metavar="DATE", type=local_day, default=None,
              help="First local day, YYYY-MM-DD (default: the first day with data).")
@click.option("--to", "end", metavar="DATE", type=local_day, default=None,
              help="Last local day, YYYY-MM-DD, included (default: the last day with data).")
@click.option("--out", metavar="FILE", required=True, type=click.Path(dir_okay=False),
              help="The HTML file to write.")
@click.option("--csv", "csv_dir", metavar="DIR", default=None,
              type=click.Path(file_okay=False),
              help="Also write each of the report's tables to a CSV file in DIR.")
def report(db_path: str, desk: str | None, start, end, out: str, csv_dir: str | None) -> None:
    """Write the ergonomist's report: daily sitting time and breaks, postures, alerts and
    responses, the average seat-pressure map, nerve load and device health, as one HTML
    file that opens without a network. Days are local days."""
    from edge.report import NoDataError, ReportError, load_report, write_csv, write_report

    if start and end and start > end:
        raise click.BadParameter(f"{start:%Y-%m-%d} is after --to {end:%Y-%m-%d}",
                                 param_hint="'--from'")
    try:
        data = load_report(db_path, desk=desk, start=start.date() if start else None,
                           end=end.date() if end else None)
    except NoDataError as error:
        raise click.UsageError(str(error)) from None
    except ReportError as error:
        raise click.BadParameter(str(error), param_hint="'--db'") from None
    write_report(data, out)
    if csv_dir:
        write_csv(data, csv_dir)
    click.echo(f"{out}: {data.start} to {data.end}, {', '.join(data.desks)}: {data.summary}")


@main.command()
@config_option
@click.option("--host", default=None, help="Address to listen on ([dashboard] host).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on ([dashboard] port).")
@logging_options
def dashboard(config_path: str | None, host: str | None, port: int | None, log_format: str,
              log_level: str) -> None:
    """Serve the web dashboard: every desk live from MQTT (posture, nerve load, seat pressure,
    alerts to acknowledge or snooze) and the ergonomist's history from the log, until Ctrl-C
    or SIGTERM. Listens on 127.0.0.1 unless told otherwise; any other address needs
    [dashboard] token."""
    import dataclasses

    from edge import logs
    from edge.config import ConfigError

    logs.configure(log_format, log_level)
    cfg = _checked_config(config_path, "dashboard", _log_warning)
    try:
        settings = dataclasses.replace(cfg.dashboard, **{k: v for k, v in
                                                         (("host", host), ("port", port))
                                                         if v is not None})
    except ConfigError as error:
        for problem in error.errors:
            click.echo(f"[dashboard] {problem}", err=True)
        raise SystemExit(2) from None
    try:
        from dashboard.server import serve
    except ImportError as error:
        raise click.ClickException(
            f"the dashboard needs its extra ({error.name} is missing): "
            "pip install 'legwake[dashboard]'") from None
    try:
        serve(dataclasses.replace(cfg, dashboard=settings))
    except OSError as error:
        raise click.ClickException(f"cannot serve the dashboard on {settings.host}:"
                                   f"{settings.port}: {error.strerror or error}") from None


@main.command()
@config_option
@click.option("--scenario", default="demo", show_default=True, metavar="SCENARIO",
              help="What the simulated sitter does (a name from `legwake sim --list`, or a "
                   "scenario JSON file).")
@click.option("--speed", type=click.FloatRange(0.1, 1000), default=10.0, show_default=True,
              help="Time compression: scenario seconds per second.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="The dashboard's port (default: [dashboard] port if free, else any free "
                   "port).")
@click.option("--keep", "keep_dir", metavar="DIR", default=None,
              type=click.Path(file_okay=False),
              help="Keep the demo's files (configuration, logs, the agent's log and outbox) "
                   "in DIR instead of a temporary directory removed at the end.")
@click.option("--push", "push_urls", metavar="URL", multiple=True,
              help="Also push the alerts to this Apprise URL (ntfy://my-topic, json://host/path,"
                   " ...; repeat for more), as [notify] urls does.")
def demo(config_path: str | None, scenario: str, speed: float, port: int | None,
         keep_dir: str | None, push_urls: tuple[str, ...]) -> None:
    """Run the whole system on this machine: a Mosquitto of its own (unless the file named
    by --config or $LEGWAKE_CONFIG sets [mqtt] host), the simulated seat mat and thigh
    sensors playing SCENARIO, the agent and the dashboard, and print the dashboard's
    address. With the default scenario and speed, the first alert (a leg about to fall
    asleep) comes about 70 s in; the demo prints each buzz of the thigh units and, with
    --push, each notification pushed.

    Ctrl-C (or SIGTERM) stops every process it started, in order, and removes its files:
    exit 0; also when the scenario is over. A process that fails stops the demo with
    exit 1 and the end of its log.
    """
    import os
    from pathlib import Path

    from edge.broker import BrokerError
    from edge.config import ENV_VAR
    from edge.demo import DemoError, DemoOptions, run_demo

    cfg = _load_config(config_path)
    # Only a file asked for by name brings its broker: the sample ./config.toml writes
    # out [mqtt] host at its default, and the demo leaves nothing on a broker not its own.
    named = config_path or os.environ.get(ENV_VAR)
    from edge.nudge.urls import redacted_url, usable_url

    for url in push_urls:
        if not usable_url(url):
            raise click.BadParameter(f"not an Apprise URL of a service Apprise knows: "
                                     f"{redacted_url(url)}", param_hint="--push")
    options = DemoOptions(config_file=Path(named) if named else None, scenario=scenario,
                          speed=speed, push_urls=push_urls,
                          dashboard_port=port, keep_dir=Path(keep_dir) if keep_dir else None)
    try:
        code = run_demo(cfg, options, say=click.echo,
                        complain=lambda line: click.echo(line, err=True))
    except (DemoError, BrokerError, OSError) as error:
        raise click.ClickException(str(error)) from None
    raise SystemExit(code)
