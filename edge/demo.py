"""`legwake demo`: the whole system in one command, and nothing left behind.

Owns the demo's processes and files. It starts a Mosquitto of its own (edge/broker.py)
unless the file named by --config or $LEGWAKE_CONFIG sets [mqtt] host, writes the demo's
configuration into a directory of its own, and runs as children, exactly as a user
would, the agent on the simulated seat mat and thigh sensors (`legwake run --sim
SCENARIO --speed S`) and the dashboard (`legwake dashboard`), each with its output in a
log file there. It prints the dashboard's address once it answers, then what reaches the
person as it happens (each buzz of a thigh unit and each push notification, read from the
agent's log), and waits: for
Ctrl-C or SIGTERM (exit 0: stopping the demo is its normal end), or for a child to end
on its own (the agent at the end of the scenario: exit 0; anything else is a failure:
exit 1 with the tail of that child's log). Stopping, in this order: SIGINT to the agent
(it publishes its offline status and flushes its outbox) and SIGTERM to the dashboard,
together given STOP_TIMEOUT_S before SIGKILL (at once on a second Ctrl-C), then the
broker, then the directory (unless kept with --keep).

The children run in sessions of their own (edge/processes.py): a Ctrl-C at the
terminal reaches the demo only, which stops them in the order above; had they got it
too, the broker could be gone before the agent's last messages. And the kernel kills
them if the demo itself is killed (PR_SET_PDEATHSIG), when no clean stop is possible.

Must not touch: the user's configuration file (read, never written), a broker it did
not start, the agent's and the dashboard's behaviour (only their configuration).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edge import processes
from edge.broker import LocalBroker
from edge.config import Config, config_to_toml
from edge.nudge.urls import redacted_url
from firmware_sim.scenario import Scenario, get_scenario

DEFAULT_SCENARIO = "demo"
DEFAULT_SPEED = 10.0
READY_TIMEOUT_S = 30.0
"""How long the dashboard may take to answer (the agent's start-up runs meanwhile)."""
STOP_TIMEOUT_S = 10.0
"""How long each child has to stop after its signal before it is killed."""
ALERT_INTO_CROSSING_S = 575.0
"""With the default model and policy, a leg crossed and held still gets its first
numbness alert this long after the crossing (tests/test_demo.py checks it on the demo
scenario): only for the "what to watch for" line."""
POLL_S = 0.1

Say = Callable[[str], None]


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """What `legwake demo` was asked for."""

    config_file: Path | None = None
    """The configuration file read (None: the defaults); it decides whose broker."""
    scenario: str = DEFAULT_SCENARIO
    """A scenario name (firmware_sim/scenario.py) or a scenario JSON file."""
    speed: float = DEFAULT_SPEED
    dashboard_port: int | None = None
    """None: [dashboard] port if it is free, else a free port."""
    keep_dir: Path | None = None
    """Keep the demo's files (configuration, logs, the agent's log and outbox) here
    instead of in a temporary directory removed at the end."""
    push_urls: tuple[str, ...] = ()
    """Apprise URLs the alerts are pushed to, besides the file's [notify] urls."""

    def __post_init__(self) -> None:
        if not 0.1 <= self.speed <= 1000:
            raise ValueError(f"speed must be in 0.1..1000, got {self.speed}")


@dataclass(slots=True)
class _StopRequest:
    """SIGINT and SIGTERM, counted: the first stops the demo, a second one kills."""

    count: int = 0
    signum: int | None = None

    def __call__(self, signum: int, frame: object) -> None:
        self.count += 1
        self.signum = signum


@contextmanager
def _stop_signals() -> Iterator[_StopRequest]:
    request = _StopRequest()
    previous = {signum: signal.signal(signum, request)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@dataclass(slots=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, name: str, args: list[str], log_path: Path, stop_signal: int) -> _Child:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with log_path.open("ab") as output:
            process = processes.spawn(args, stdout=output, stderr=subprocess.STDOUT, env=env)
        return cls(name, process, log_path, stop_signal)

    def tail(self) -> str:
        return processes.file_tail(self.log_path)


def sets_mqtt_host(config_file: Path | None) -> bool:
    """True if the file names a broker ([mqtt] host written out, even at its default)."""
    if config_file is None:
        return False
    with config_file.open("rb") as f:
        mqtt = tomllib.load(f).get("mqtt", {})
    return isinstance(mqtt, dict) and "host" in mqtt


def load_scenario(name: str, seed: int) -> Scenario:
    """The scenario the agent will play (ValueError names the valid names), to check it
    before anything starts and to say what to watch for."""
    if name.endswith(".json"):
        with open(name, encoding="utf-8") as f:
            return Scenario.from_dict(json.load(f))
    return get_scenario(name, seed=seed)


def dashboard_port(cfg: Config, asked: int | None) -> int:
    """--port if free, else DemoError; without it [dashboard] port if free, else a free one."""
    host = cfg.dashboard.host
    try:
        if asked is not None:
            if not processes.port_is_free(host, asked):
                raise DemoError(f"port {asked} on {host} is in use: choose another with "
                                "--port")
            return asked
        if processes.port_is_free(host, cfg.dashboard.port):
            return cfg.dashboard.port
        return processes.free_port(host)
    except OSError as error:
        raise DemoError(f"the dashboard cannot listen on {host} ([dashboard] host): "
                        f"{error.strerror or error}") from None


def demo_config(cfg: Config, directory: Path, *, broker: LocalBroker | None, port: int,
                scenario: str, speed: float, push_urls: tuple[str, ...] = ()) -> Config:
    """The configuration both children read: the user's, with the demo's broker (if its
    own), files in the demo's directory, no mat calibration file, the dashboard's port,
    and `push_urls` added to [notify] urls."""
    log_path = str(directory / "legwake.db")
    mqtt = dataclasses.replace(cfg.mqtt, outbox_path=str(directory / "outbox.db"))
    if broker is not None:
        # A broker of its own has no Home Assistant to announce the desk to.
        mqtt = dataclasses.replace(mqtt, host=broker.host, port=broker.port, tls=False,
                                   ca_file="", cert_file="", key_file="", username="",
                                   password="", ha_discovery=False)
    return dataclasses.replace(
        cfg, mqtt=mqtt,
        mat=dataclasses.replace(cfg.mat, zero_file=""),
        log=dataclasses.replace(cfg.log, path=log_path),
        dashboard=dataclasses.replace(cfg.dashboard, port=port, db=log_path),
        notify=dataclasses.replace(
            cfg.notify, urls=tuple(dict.fromkeys((*cfg.notify.urls, *push_urls))),
            queue_path=str(directory / "notify.db")),
        sim=dataclasses.replace(cfg.sim, scenario=scenario, speed=speed))


def _reachable(host: str) -> str:
    """Where to reach a server listening on `host`: on every address means this host too."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def _url(host: str, port: int) -> str:
    host = _reachable(host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _answers(host: str, port: int) -> bool:
    """True once the dashboard answers GET / with any HTTP status (a token may be needed)."""
    connection = http.client.HTTPConnection(_reachable(host), port, timeout=2.0)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return True


def _leg(posture: str) -> str:
    top, under = ("left", "right") if posture == "crossed_left_over_right" else ("right", "left")
    return f"the {top} leg crosses over the {under}"


def watch_line(plan: Scenario, speed: float, elapsed_s: float) -> str:
    """What to watch for, counted from now (the scenario started `elapsed_s` ago)."""
    bounds = plan.segment_bounds_s()
    for index, segment in enumerate(plan.segments):
        if (segment.posture.startswith("crossed_")
                and segment.duration_s > ALERT_INTO_CROSSING_S + 30):
            crosses_in = max(0.0, bounds[index] / speed - elapsed_s)
            alert_in = max(0.0, (bounds[index] + ALERT_INTO_CROSSING_S) / speed - elapsed_s)
            return (f"watch: in about {crosses_in:.0f} s {_leg(segment.posture)}; in about "
                    f"{alert_in:.0f} s it is close to falling asleep and the alert comes. "
                    "Ctrl-C stops everything.")
    return "watch: the live posture and nerve load. Ctrl-C stops everything."


def run_demo(cfg: Config, options: DemoOptions, *, say: Say, complain: Say) -> int:
    """Run the demo until Ctrl-C, SIGTERM or a child's end; returns the exit code (0 when
    stopped or when the scenario is over, 1 when a child failed). DemoError, or
    edge.broker.BrokerError, if it cannot start; whatever it started is stopped first."""
    try:
        plan = load_scenario(options.scenario, cfg.sim.seed)
    except (OSError, ValueError) as error:
        raise DemoError(str(error)) from None
    own_broker = not sets_mqtt_host(options.config_file)
    if not own_broker and not processes.accepts_connections(cfg.mqtt.host, cfg.mqtt.port,
                                                            timeout=3.0):
        raise DemoError(f"no MQTT broker answers at {cfg.mqtt.host}:{cfg.mqtt.port} ([mqtt] "
                        f"host in {options.config_file}): start it, or leave [mqtt] host out "
                        "of the file and the demo starts a Mosquitto of its own")
    port = dashboard_port(cfg, options.dashboard_port)

    with _stop_signals() as stop:
        if options.keep_dir is not None:
            directory = options.keep_dir.resolve()
            directory.mkdir(parents=True, exist_ok=True)
        else:
            directory = Path(tempfile.mkdtemp(prefix="legwake-demo-"))
        broker: LocalBroker | None = None
        children: list[_Child] = []
        try:
            say(f"files: {directory}" + (" (kept)" if options.keep_dir is not None
                                         else " (removed at the end)"))
            if own_broker:
                broker = LocalBroker(directory / "mosquitto")
                broker.start()
                say(f"mqtt: {broker.address} (a Mosquitto of its own)")
            else:
                say(f"mqtt: {cfg.mqtt.host}:{cfg.mqtt.port} (from {options.config_file})")
            effective = demo_config(cfg, directory, broker=broker, port=port,
                                    scenario=options.scenario, speed=options.speed,
                                    push_urls=options.push_urls)
            config_path = directory / "config.toml"
            config_path.write_text(config_to_toml(effective))
            edge = [sys.executable, "-m", "edge"]
            children.append(_Child.start(
                "agent", [*edge, "run", "--sim", options.scenario, "--speed",
                          repr(options.speed), "--config", str(config_path)],
                directory / "agent.log", signal.SIGINT))
            say(f"agent: {plan.name!r}, {plan.duration_s / 60:.0f} min of sitting at speed "
                f"{options.speed:g}, so {plan.duration_s / options.speed / 60:.1f} min "
                f"(log: {children[0].log_path})")
            children.append(_Child.start(
                "dashboard", [*edge, "dashboard", "--config", str(config_path)],
                directory / "dashboard.log", signal.SIGTERM))
            return _supervise(children, stop, plan, options.speed, effective, say, complain)
        finally:
            _shut_down(children, broker, stop, say)
            if options.keep_dir is None:
                shutil.rmtree(directory, ignore_errors=True)
            else:
                say(f"kept: {directory} (the log: legwake report --db "
                    f"{directory / 'legwake.db'} --out report.html)")
            say("stopped")


def _supervise(children: list[_Child], stop: _StopRequest, plan: Scenario, speed: float,
               cfg: Config, say: Say, complain: Say) -> int:
    host, port = cfg.dashboard.host, cfg.dashboard.port
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _answers(host, port):
        if (code := _check(children, stop, say, complain)) is not None:
            return code
        if time.monotonic() > deadline:
            dashboard = children[-1]
            complain(f"the dashboard did not answer on {_url(host, port)} within "
                     f"{READY_TIMEOUT_S:g} s; the end of its log:\n{dashboard.tail()}")
            return 1
        time.sleep(POLL_S)
    say("")
    say(f"    dashboard: {_url(host, port)}")
    say("")
    say(watch_line(plan, speed, time.monotonic() - children[0].started_at))
    if cfg.notify.urls:
        say("push: alerts go to " + ", ".join(redacted_url(u) for u in cfg.notify.urls))
    echo = NudgeEcho(children[0].log_path)
    while (code := _check(children, stop, say, complain)) is None:
        for line in echo.lines():
            say(line)
        time.sleep(POLL_S)
    return code


class NudgeEcho:
    """What reached the person, from the agent's log as it grows: each pattern a simulated
    thigh unit played ("buzz: ...") and each notification a push service took ("push:
    ..."). The agent logs them anyway; the demo only shows them."""

    MARKS = (("firmware_sim.legimu: ", ": buzz ", "buzz: "),
             ("edge.nudge.push: ", "pushed to ", "push: "))

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except OSError:
            return []
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        shown = []
        for raw in complete:
            line = raw.decode("utf-8", "replace")
            for logger, mark, label in self.MARKS:
                if logger in line and mark in line:
                    shown.append(label + line.split(logger, 1)[1].replace(mark, " ", 1)
                                 if label == "buzz: " else
                                 label + line.split(mark, 1)[1])
        return shown


def _check(children: list[_Child], stop: _StopRequest, say: Say, complain: Say) -> int | None:
    """None while the demo should go on, else its exit code."""
    if stop.count:
        return 0
    for child in children:
        code = child.process.poll()
        if code is None:
            continue
        if child.name == "agent" and code == 0:
            say("the scenario is over")
            return 0
        ended = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
        complain(f"the {child.name} stopped on its own ({ended}); the end of its log:\n"
                 f"{child.tail()}")
        return 1
    return None


def _shut_down(children: list[_Child], broker: LocalBroker | None, stop: _StopRequest,
               say: Say) -> None:
    running = [c for c in children if c.process.poll() is None]
    if running or broker is not None:
        say("stopping: " + ", ".join([c.name for c in running]
                                     + (["mosquitto"] if broker is not None else [])))
    signals_before = stop.count
    processes.stop([(c.process, c.stop_signal) for c in running], timeout=STOP_TIMEOUT_S,
                   give_up=lambda: stop.count > signals_before)
    for child in children:  # those that ended before are reaped too
        processes.kill(child.process)
    if broker is not None:
        broker.stop()
