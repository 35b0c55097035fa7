"""`legwake diagnose` reports each check, never leaks a secret, and fails when a part is missing."""

from __future__ import annotations

import json
import socket

from click.testing import CliRunner

from edge.cli import main


def write_config(tmp_path, port: int, mat_port: str = "") -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[mat]\nport = "{mat_port}"\n[imu]\ntransport = "none"\n'
                    f'[mqtt]\nport = {port}\npassword = "hunter2"\n')
    return str(path)


def test_all_good_with_a_listening_broker(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        result = CliRunner().invoke(main, ["diagnose", "--json", "--config",
                                           write_config(tmp_path, server.getsockname()[1])])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {c["check"]: c["status"] for c in report["checks"]} == {
        "versions": "ok", "serial": "ok", "ble": "ok", "broker": "ok", "numba": "ok"}
    assert "hunter2" not in result.output and 'password = "***"' in report["config"]


def test_missing_mat_and_unreachable_broker_fail_with_a_reason(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    result = CliRunner().invoke(main, ["diagnose", "--config",
                                       write_config(tmp_path, free, "/dev/ttyACM9")])
    assert result.exit_code == 1
    assert "FAIL serial    /dev/ttyACM9 does not exist (is the mat plugged in?)" in result.output
    assert f"FAIL broker    localhost:{free} is not reachable" in result.output
    assert "hunter2" not in result.output
