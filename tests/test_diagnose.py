"""`legwake diagnose` reports each check, never leaks a secret, and fails when a part is missing."""

from __future__ import annotations

import json
import socket

from click.testing import CliRunner

from edge.cli import main


def write_config(tmp_path, port: int, mat_port: str = "", mqtt: str = "") -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[mat]\nport = "{mat_port}"\n[imu]\ntransport = "none"\n'
                    f'[mqtt]\nport = {port}\npassword = "hunter2"\n'
                    f'outbox_path = "{tmp_path}/outbox.db"\n{mqtt}'
                    f'[log]\npath = "{tmp_path}/legwake.db"\n'
                    f'[collect]\ndb = "{tmp_path}/fleet.db"\n')
    path.chmod(0o640)  # as deploy/legwake.service installs it: the password for owner and group
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
        "versions": "ok", "files": "ok", "serial": "ok", "ble": "ok", "broker": "ok",
        "numba": "ok"}
    assert "hunter2" not in result.output and 'password = "***"' in report["config"]


def test_a_password_others_can_read_is_a_warning(tmp_path):
    path = write_config(tmp_path, 1)
    (tmp_path / "config.toml").chmod(0o644)
    result = CliRunner().invoke(main, ["diagnose", "--json", "--config", path])
    [files] = [c for c in json.loads(result.output)["checks"] if c["check"] == "files"]
    assert files["status"] == "warn"
    assert files["detail"] == (f"{path}: [mqtt] password is set in a file that others can read"
                               f" (mode 0644): chmod o-r {path}")
    assert "hunter2" not in result.output


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


def test_files_the_commands_cannot_use_fail(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    config = write_config(tmp_path, free,
                          mqtt='tls = true\nca_file = "/etc/legwake/missing-ca.pem"\n')
    result = CliRunner().invoke(main, ["diagnose", "--json", "--config", config])
    assert result.exit_code == 1
    [files] = [c for c in json.loads(result.output)["checks"] if c["check"] == "files"]
    assert files["status"] == "fail"
    assert files["detail"].startswith(f"{config}: [mqtt] ca_file: expected a file that user ")
    assert files["detail"].endswith(', got "/etc/legwake/missing-ca.pem" (no such file)')
