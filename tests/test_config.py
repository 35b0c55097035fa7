"""edge/config.py and `legwake check-config`: the sample, every kind of error, the round trip."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.cli import main
from edge.config import (
    DEFAULT_CALIBRATION,
    Config,
    ConfigError,
    MatConfig,
    MqttConfig,
    config_to_toml,
    load_config,
)

# Derived from the dataclasses, so that adding a setting or a section needs no edit here.
MQTT_KEYS = ("Valid keys in [mqtt]: "
             + ", ".join(f.name for f in dataclasses.fields(MqttConfig)) + ".")
VALID_SECTIONS = ("Valid sections: "
                  + ", ".join(f"[{f.name}]" for f in dataclasses.fields(Config)) + ".")
SAMPLE = Path(__file__).resolve().parent.parent / "config.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


# --- the sample config.toml ------------------------------------------------------------------


def test_sample_equals_the_defaults() -> None:
    assert load_config(SAMPLE) == Config()


def test_sample_has_every_setting_and_nothing_else() -> None:
    sample = tomllib.loads(SAMPLE.read_text(encoding="utf-8"))
    for section in dataclasses.fields(Config):
        defaults = getattr(Config(), section.name)
        assert section.name in sample, f"config.toml has no [{section.name}]"
        keys = {f.name for f in dataclasses.fields(defaults)}
        assert set(sample[section.name]) == keys, f"[{section.name}] keys differ"
    assert set(sample) == {f.name for f in dataclasses.fields(Config)}


def test_sample_comments_every_setting() -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f"config.toml: no comment above {line!r}"


# --- loading ---------------------------------------------------------------------------------


def test_missing_keys_and_sections_take_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[mqtt]\nhost = "broker.lan"\n'))
    assert cfg == dataclasses.replace(Config(), mqtt=MqttConfig(host="broker.lan"))
    assert load_config(write(tmp_path, "")) == Config()


def test_floats_accept_integers(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "[sim]\nspeed = 60\n"))
    assert cfg.sim.speed == 60.0 and type(cfg.sim.speed) is float


def test_no_path_reads_env_then_local_file_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEGWAKE_CONFIG", raising=False)
    assert load_config() == Config()
    write(tmp_path, '[desk]\ndesk = "local"\n')
    assert load_config().desk.desk == "local"
    named = tmp_path / "named.toml"
    named.write_text('[desk]\ndesk = "named"\n', encoding="utf-8")
    monkeypatch.setenv("LEGWAKE_CONFIG", str(named))
    assert load_config().desk.desk == "named"
    monkeypatch.setenv("LEGWAKE_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="gone.toml: no such file"):
        load_config()


def test_calibration_default_and_custom(tmp_path: Path) -> None:
    assert MatConfig().calibration_points() == DEFAULT_CALIBRATION
    spec_counts = (0, 40, 300, 900, 1800, 2800, 3500, 3950, 4095)
    spec_kpa = (0, 0, 2.0, 6.0, 14.0, 28.0, 45.0, 70.0, 90.0)
    assert DEFAULT_CALIBRATION == tuple(zip(spec_counts, spec_kpa, strict=True))
    cfg = load_config(write(tmp_path, "[mat]\ncalibration = [[0, 0], [4095, 100.5]]\n"))
    assert cfg.mat.calibration_points() == ((0, 0.0), (4095, 100.5))


# --- error messages --------------------------------------------------------------------------


def test_wrong_type_names_file_section_key_and_what_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nport = "abc"\n')
    assert errors_of(path) == [f'{path}: [mqtt] port: expected an integer 1..65535, got "abc"']


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ("[mqtt]\nport = true", "[mqtt] port: expected an integer 1..65535, got true"),
        ("[mqtt]\nport = 1883.0", "[mqtt] port: expected an integer 1..65535, got 1883.0"),
        ("[mqtt]\nport = 0", "[mqtt] port: expected an integer 1..65535, got 0"),
        ("[mqtt]\ntls = 1", "[mqtt] tls: expected true or false, got 1"),
        ("[mqtt]\nprotocol = 5", '[mqtt] protocol: expected one of "5", "3.1.1", got 5'),
        ("[sim]\nspeed = 0", "[sim] speed: expected a number 0.1..1000, got 0"),
        ("[sim]\nspeed = true", "[sim] speed: expected a number 0.1..1000, got true"),
        ("[sim]\nspeed = nan", "[sim] speed: expected a number 0.1..1000, got nan"),
        ("[sim]\nseed = -1", "[sim] seed: expected an integer >= 0, got -1"),
        ('[sim]\nseat = "soft"', '[sim] seat: expected one of "cushioned", "hard", got "soft"'),
        ("[imu]\nrate_hz = 60", "[imu] rate_hz: expected one of 25, 50, 100, got 60"),
        ('[imu]\ntransport = "BLE"',
         '[imu] transport: expected one of "ble", "serial", "none", got "BLE"'),
        ('[desk]\nsite = "floor/3"', ('[desk] site: expected letters, digits, "-" and "_" only'
         ' (an MQTT topic segment), got "floor/3"')),
        ('[desk]\ndesk = ""', ('[desk] desk: expected letters, digits, "-" and "_" only'
         ' (an MQTT topic segment), got ""')),
        ("[record]\ndir = 3", '[record] dir: expected a directory path, got 3'),
        ('[imu]\nleft = "LegIMU-R-1A2B"', ('[imu] left: expected a BLE address like'
         ' "AA:BB:CC:DD:EE:FF", a name like "LegIMU-L-1A2B", or "" (the first left unit'
         ' advertising), got "LegIMU-R-1A2B"')),
        ("[mqtt]\nport = {a = 1}", "[mqtt] port: expected an integer 1..65535, got {a = 1}"),
    ],
)
def test_bad_values(tmp_path: Path, toml: str, error: str) -> None:
    path = write(tmp_path, toml + "\n")
    assert errors_of(path) == [f"{path}: {error}"]


@pytest.mark.parametrize(
    ("calibration", "error"),
    [
        ("[[0, 0]]", "expected [] (the default table) or at least 2 [counts, kPa] points"),
        ('"default"', "expected [] (the default table) or at least 2"),
        ("[[0, 0], [10]]", "expected each point as [counts, kPa], got [10]"),
        ("[[0, 0], [5000, 1]]", "expected counts an integer 0..4095, got [5000, 1]"),
        ("[[0, 0], [1.5, 1]]", "expected counts an integer 0..4095, got [1.5, 1]"),
        ("[[0, -1], [10, 1]]", "expected kPa a number >= 0, got [0, -1]"),
        ("[[0, 0], [10, 2], [10, 3]]",
         "expected counts strictly increasing, got [10, 3] after [10, 2]"),
        ("[[0, 0], [10, 2], [20, 1]]", "expected kPa non-decreasing, got [20, 1] after [10, 2]"),
    ],
)
def test_bad_calibration(tmp_path: Path, calibration: str, error: str) -> None:
    path = write(tmp_path, f"[mat]\ncalibration = {calibration}\n")
    [message] = errors_of(path)
    assert message.startswith(f"{path}: [mat] calibration: {error}")


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ("[imu]\nreconnect_initial_s = 40\nreconnect_max_s = 20",
         "[imu] reconnect_initial_s: expected at most reconnect_max_s (20.0), got 40.0"),
        ('[imu]\nleft = "AA:BB:CC:DD:EE:FF"\nright = "aa:bb:cc:dd:ee:ff"',
         '[imu] right: expected a unit other than left\'s, got "aa:bb:cc:dd:ee:ff"'),
        ('[ble]\nbackend = "sim"\nsim_hci = "tcp-server:127.0.0.1:1"',
         ('[ble] sim_hci: expected a transport starting with "tcp-client:" when backend = "sim",'
         ' got "tcp-server:127.0.0.1:1"')),
        ('[mqtt]\ntls = true\ncert_file = "c.pem"',
         '[mqtt] key_file: expected a file path when tls = true and cert_file is set, got ""'),
        ('[mqtt]\nca_file = "ca.pem"',
         "[mqtt] tls: expected true when ca_file, cert_file or key_file is set, got false"),
        ('[mat]\nport = ""\n[imu]\ntransport = "serial"',
         ('[imu] transport: expected "ble" or "none" when [mat] port = "" (a wired IMU shares'
         ' the mat\'s link), got "serial"')),
    ],
)
def test_cross_field_rules(tmp_path: Path, toml: str, error: str) -> None:
    path = write(tmp_path, toml + "\n")
    assert errors_of(path) == [f"{path}: {error}"]


def test_unknown_key_suggests_the_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nprot = 1883\n")
    assert errors_of(path) == [
        f'{path}: [mqtt] prot: unknown key. Did you mean "port"? {MQTT_KEYS}'
    ]


def test_unknown_key_names_the_section_it_belongs_in(tmp_path: Path) -> None:
    path = write(tmp_path, "[ble]\nscan_timeout_s = 5\n")
    [message] = errors_of(path)
    assert message.startswith(f"{path}: [ble] scan_timeout_s: unknown key. Did you mean"
                              " [imu] scan_timeout_s? Valid keys in [ble]: backend, sim_hci.")


def test_unknown_section_suggests_the_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqqt]\nport = 1883\n")
    assert errors_of(path) == [
        f"{path}: unknown section [mqqt]. Did you mean [mqtt]? {VALID_SECTIONS}"
    ]


def test_key_outside_any_section(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 1883\n")
    [message] = errors_of(path)
    assert message.startswith(
        f"{path}: port: a key outside any section. Did you mean [mat] port or [mqtt] port or "
        "[dashboard] port?"
    )


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, 'mqtt = "localhost"\n')
    assert errors_of(path) == [f'{path}: [mqtt]: expected a [mqtt] table, got "localhost"']


def test_every_error_in_the_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nport = "abc"\nkeepalive_s = 1\nhots = "x"\n'
                           "[sim]\nweight_kg = 300\n[dashbord]\n")
    assert errors_of(path) == [
        f'{path}: [mqtt] hots: unknown key. Did you mean "host"? {MQTT_KEYS}',
        f'{path}: [mqtt] port: expected an integer 1..65535, got "abc"',
        f"{path}: [mqtt] keepalive_s: expected an integer 5..3600, got 1",
        f"{path}: [sim] weight_kg: expected a number 45..130, got 300",
        f"{path}: unknown section [dashbord]. Did you mean [dashboard]? {VALID_SECTIONS}",
    ]


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nhost = "broker"\nport = \n')
    [message] = errors_of(path)
    assert message.startswith(f"{path}: line 3, column 8: invalid TOML: ")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nope.toml") == [f"{tmp_path / 'nope.toml'}: no such file"]


def test_unreadable_or_binary_file_is_an_error(tmp_path: Path) -> None:
    assert errors_of(tmp_path) == [f"{tmp_path}: cannot read: Is a directory"]
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[mqtt]\n")
    assert errors_of(binary) == [f"{binary}: not UTF-8 text (byte 0)"]


def test_construction_in_code_is_validated_too() -> None:
    with pytest.raises(ConfigError) as caught:
        MqttConfig(port=0, keepalive_s=True)
    assert caught.value.errors == [
        "port: expected an integer 1..65535, got 0",
        "keepalive_s: expected an integer 5..3600, got true",
    ]


# --- rendering -------------------------------------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
[desk]
person = "p-017"
[mat]
port = ""
calibration = [[0, 0], [100, 0.5], [4095, 80]]
[imu]
transport = "none"
left = "LegIMU-L-1A2B"
right = "AA:BB:CC:DD:EE:FF"
[mqtt]
username = "desk \\"1\\"\\n\\u00e9\\t\\\\"
password = "s3cret"
tls = true
cert_file = "c.pem"
key_file = "k.pem"
[sim]
speed = 60
seed = 123456789012
"""))
    assert cfg.mqtt.username == 'desk "1"\n\u00e9\t\\'
    text = config_to_toml(cfg)
    assert load_config(write(tmp_path, text)) == cfg
    assert config_to_toml(Config()).startswith("[desk]\n")
    assert load_config(write(tmp_path, config_to_toml(Config()))) == Config()


def test_redaction_hides_set_secrets_only() -> None:
    cfg = dataclasses.replace(Config(), mqtt=MqttConfig(username="u", password="s3cret"))
    text = config_to_toml(cfg, redact=True)
    assert 'password = "***"' in text and "s3cret" not in text
    assert 'username = "u"' in text
    assert 'password = "s3cret"' in config_to_toml(cfg)
    assert 'password = ""' in config_to_toml(Config(), redact=True)
    assert "s3cret" not in repr(cfg)


# --- legwake check-config --------------------------------------------------------------------


def test_check_config_prints_the_effective_config(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nhost = "broker.lan"\npassword = "s3cret"\n')
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert 'host = "broker.lan"' in result.stdout
    assert "s3cret" not in result.stdout
    assert tomllib.loads(result.stdout)["mqtt"]["password"] == "***"


def test_check_config_reports_errors_on_stderr(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nport = "abc"\nprot = 1\n')
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{path}: [mqtt] ") for line in lines)
    assert f'{path}: [mqtt] port: expected an integer 1..65535, got "abc"' in lines
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content", [None, "[mqtt\n"])
def test_check_config_missing_or_broken_file(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "config.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: ")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


def test_check_config_without_path_uses_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEGWAKE_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 0
    assert load_config(write(tmp_path, result.stdout)) == Config()
