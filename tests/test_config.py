"""edge/config.py and `legwake check-config`: the sample, every kind of error, the round trip."""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from collections.abc import Iterator
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
    check_environment,
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
         ' "AA:BB:CC:DD:EE:FF", a name like "LegIMU-L-1A2B", or "" (the one left unit'
         ' advertising; `legwake pair` sets it), got "LegIMU-R-1A2B"')),
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
    path.chmod(0o600)
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


# --- what is never valid, and never shown ----------------------------------------------------

SQLITE_FILE = "a SQLite file path (URLs such as postgresql:// are not supported yet)"


@pytest.mark.parametrize(("key", "when_empty"), [
    ("[log] path", ', or "" for no log'),
    ("[collect] db", ""),
    ("[dashboard] db", ', or "" for [log] path'),
])
@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
    ("postgres://u:p@ss/w@h:5432/db?password=secret&sslmode=require",
     "postgres://u:***@h:5432/db?password=***&sslmode=***"),
    ("mysql://h/db", "mysql://h/db"),
    ("sqlite:///var/lib/legwake/legwake.db", "sqlite:///var/lib/legwake/legwake.db"),
    ("sqlite:legwake.db", "sqlite:legwake.db"),
    ("file:legwake.db?mode=ro", "file:legwake.db?mode=***"),
])
def test_a_database_url_is_refused_with_its_secrets_hidden(tmp_path: Path, key: str,
                                                           when_empty: str, url: str,
                                                           shown: str) -> None:
    section, name = key[1:].split("] ")
    path = write(tmp_path, f'[{section}]\n{name} = "{url}"\n')
    assert errors_of(path) == [(f'{path}: {key}: expected {SQLITE_FILE}{when_empty}, '
                               f'got "{shown}"')]


def test_sqlite_file_paths_are_taken_as_they_are(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[log]\npath = "/var/lib/legwake/log:2026.db"\n'
                                      '[collect]\ndb = "fleet/fleet.db"\n'
                                      '[dashboard]\ndb = "C:/legwake/fleet.db"\n'))
    assert (cfg.log.path, cfg.collect.db, cfg.dashboard.db) == (
        "/var/lib/legwake/log:2026.db", "fleet/fleet.db", "C:/legwake/fleet.db")


@pytest.mark.parametrize(("toml", "error"), [
    ("[mqtt]\npassword = 12345678", ("[mqtt] password: expected a string, or \"\" for none, "
                                    "got an integer (secret: not shown)")),
    ('[mqtt]\npassword = ["hunter2"]', ("[mqtt] password: expected a string, or \"\" for none, "
                                       "got an array (secret: not shown)")),
    ('[dashboard]\ntoken = "hunter2 hunter2 hunter2"',
     ('[dashboard] token: expected a string of at least 16 characters, or "" for none, '
     "got a string (secret: not shown)")),
])
def test_a_wrong_secret_is_not_shown(tmp_path: Path, toml: str, error: str) -> None:
    path = write(tmp_path, toml + "\n")
    assert errors_of(path) == [f"{path}: {error}"]


def test_values_too_large_or_too_deep_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "[sim]\nspeed = " + "9" * 400 + "\n")
    assert errors_of(path) == [f"{path}: [sim] speed: expected a number 0.1..1000, got "
                               + "9" * 120 + " ..."]
    write(tmp_path, "[mat]\ncalibration = [[0, 0], [10, " + "9" * 400 + "]]\n")
    [message] = errors_of(path)
    assert message.startswith(f"{path}: [mat] calibration: expected kPa a number >= 0, got "
                              "[10, 999")
    write(tmp_path, "[mqtt]\nport = " + "9" * 5000 + "\n")
    assert errors_of(path) == [(f"{path}: invalid TOML: Exceeds the limit (4300 digits) for "
                               "integer string conversion")]
    write(tmp_path, "[sim]\nseed = " + "[" * 5000 + "]" * 5000 + "\n")
    assert errors_of(path) == [f"{path}: invalid TOML: arrays or tables nested too deeply"]
    write(tmp_path, "[record]\ndir = " + "[" * 200 + "]" * 200 + "\n")
    assert errors_of(path) == [f"{path}: [record] dir: expected a directory path, got "
                               + "[" * 16 + "[...]" + "]" * 16]


# --- the files the commands use: check_environment --------------------------------------------

READABLE = "a file that user {user} can read"
WRITABLE = "a file path in a directory that user {user} can write to, or create"
not_as_root = pytest.mark.skipif(os.geteuid() == 0, reason="root may read and write anything")


def environment_errors(config: Config, **options: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        check_environment(config, **options)  # type: ignore[arg-type]
    return caught.value.errors


def user_name() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def with_mqtt(tmp_path: Path, **mqtt: object) -> Config:
    """A Config whose outbox and logs are in tmp_path, with these [mqtt] settings."""
    defaults = {"outbox_path": str(tmp_path / "outbox.db")}
    return Config(mqtt=MqttConfig(**(defaults | mqtt)),  # type: ignore[arg-type]
                  log=dataclasses.replace(Config().log, path=str(tmp_path / "legwake.db")),
                  collect=dataclasses.replace(Config().collect, db=str(tmp_path / "fleet.db")))


def test_the_environment_of_a_good_configuration_passes(tmp_path: Path) -> None:
    tls = tmp_path / "ca.pem"
    tls.write_text("-----BEGIN CERTIFICATE-----\n")
    config = with_mqtt(tmp_path, tls=True, ca_file=str(tls))
    for command in (None, "run", "collect", "dashboard"):
        assert check_environment(config, for_command=command) == []


def test_a_missing_tls_file_names_the_file_key_and_what_is_valid(tmp_path: Path) -> None:
    config = with_mqtt(tmp_path, tls=True, ca_file="/etc/legwake/missing-ca.pem",
                       cert_file=str(tmp_path), key_file="client.key")
    user = user_name()
    assert environment_errors(config, config_file="/etc/legwake/config.toml") == [
        (f'/etc/legwake/config.toml: [mqtt] ca_file: expected {READABLE.format(user=user)}, '
        'got "/etc/legwake/missing-ca.pem" (no such file)'),
        (f'/etc/legwake/config.toml: [mqtt] cert_file: expected {READABLE.format(user=user)}, '
        f'got "{tmp_path}" (not a regular file)'),
        (f'/etc/legwake/config.toml: [mqtt] key_file: expected {READABLE.format(user=user)}, '
        f'got "client.key" (no such file: {os.path.abspath("client.key")})'),
    ]
    for command in ("run", "collect", "dashboard"):
        assert len(environment_errors(config, for_command=command)) == 3


def test_each_command_checks_the_directories_it_writes_to(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = Config(mqtt=MqttConfig(outbox_path=str(blocker / "outbox.db")),
                    log=dataclasses.replace(Config().log, path=str(blocker / "logs/legwake.db")),
                    collect=dataclasses.replace(Config().collect, db=str(blocker / "fleet.db")))
    writable = WRITABLE.format(user=user_name())
    outbox = (f'[mqtt] outbox_path: expected {writable}, got "{blocker}/outbox.db" '
              f"({blocker} is not a directory)")
    log = (f'[log] path: expected {writable}, got "{blocker}/logs/legwake.db" '
           f"({blocker} is not a directory)")
    fleet = (f'[collect] db: expected {writable}, got "{blocker}/fleet.db" '
             f"({blocker} is not a directory)")
    assert environment_errors(config, for_command="run") == [outbox, log]
    assert environment_errors(config, for_command="collect") == [fleet]
    assert check_environment(config, for_command="dashboard") == []
    assert environment_errors(config) == [outbox, log, fleet]
    no_log = dataclasses.replace(config, log=dataclasses.replace(config.log, path=""))
    assert environment_errors(no_log, for_command="run") == [outbox]


def test_directories_that_do_not_exist_yet_pass_and_are_not_created(tmp_path: Path) -> None:
    config = Config(mqtt=MqttConfig(outbox_path=str(tmp_path / "a/b/outbox.db")),
                    log=dataclasses.replace(Config().log, path=str(tmp_path / "c/legwake.db")),
                    collect=dataclasses.replace(Config().collect, db=str(tmp_path / "d/f.db")))
    assert check_environment(config) == []
    assert list(tmp_path.iterdir()) == []


def test_the_dashboard_needs_a_readable_log_if_there_is_one(tmp_path: Path) -> None:
    config = dataclasses.replace(
        with_mqtt(tmp_path), dashboard=dataclasses.replace(Config().dashboard, db=str(tmp_path)))
    assert environment_errors(config, for_command="dashboard") == [
        (f"[dashboard] db: expected {READABLE.format(user=user_name())}, or a path where there "
        f'is no log yet, got "{tmp_path}" (not a regular file)')]
    assert check_environment(with_mqtt(tmp_path), for_command="dashboard") == []  # no log yet


@not_as_root
def test_directories_and_files_this_user_may_not_use(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    secret = tmp_path / "ca.pem"
    secret.write_text("")
    secret.chmod(0o200)
    locked.chmod(0o500)
    config = dataclasses.replace(
        with_mqtt(tmp_path, tls=True, ca_file=str(secret),
                  outbox_path=str(locked / "outbox.db")),
        log=dataclasses.replace(Config().log, path=str(locked / "new/legwake.db")))
    user = user_name()
    assert environment_errors(config, for_command="run") == [
        (f'[mqtt] ca_file: expected {READABLE.format(user=user)}, got "{secret}" '
        f"(user {user} may not read it)"),
        (f'[mqtt] outbox_path: expected {WRITABLE.format(user=user)}, got "{locked}/outbox.db" '
        f"(user {user} may not write to {locked})"),
        (f'[log] path: expected {WRITABLE.format(user=user)}, got "{locked}/new/legwake.db" '
        f"({locked}/new does not exist, and user {user} may not create it in {locked})"),
    ]


@pytest.mark.parametrize(("mode", "readers"), [
    (0o644, "others"), (0o640, None), (0o604, "others"), (0o600, None), (0o400, None),
])
def test_a_secret_in_a_file_others_can_read_is_a_warning(tmp_path: Path, mode: int,
                                                         readers: str | None) -> None:
    path = write(tmp_path, '[mqtt]\npassword = "hunter2"\n'
                           f'outbox_path = "{tmp_path}/outbox.db"\n')
    path.chmod(mode)
    warnings = check_environment(load_config(path), config_file=path)
    if readers is None:
        assert warnings == []
    else:
        assert warnings == [(f"{path}: [mqtt] password is set in a file that {readers} can read "
                            f"(mode {mode:04o}): chmod o-r {path}")]


def test_no_secret_no_warning_and_both_secrets_named(tmp_path: Path) -> None:
    path = write(tmp_path, f'[mqtt]\nusername = "desk-1"\noutbox_path = "{tmp_path}/o.db"\n')
    path.chmod(0o644)
    assert check_environment(load_config(path), config_file=path) == []
    path.write_text(f'[mqtt]\npassword = "hunter2"\noutbox_path = "{tmp_path}/o.db"\n'
                    '[dashboard]\ntoken = "0123456789abcdef"\n')
    [warning] = check_environment(load_config(path), config_file=path)
    assert "[mqtt] password and [dashboard] token are set in a file" in warning
    assert "hunter2" not in warning and "0123456789abcdef" not in warning


def test_errors_keep_the_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\npassword = "hunter2"\ntls = true\nca_file = "gone.pem"\n')
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        check_environment(load_config(path), config_file=path, for_command="run")
    assert len(caught.value.errors) == 1 and caught.value.errors[0].startswith(
        f"{path}: [mqtt] ca_file: expected")
    assert [w.split(": ", 1)[1] for w in caught.value.warnings] == [
        (f"[mqtt] password is set in a file that others can read (mode 0644): "
        f"chmod o-r {path}")]
    with pytest.raises(ValueError, match="for_command"):
        check_environment(Config(), for_command="replay")


# --- legwake check-config and the commands' start-up --------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`legwake run` and the others point the root logger at the runner's stderr: undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_check_config_reports_a_missing_tls_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\ntls = true\nca_file = "/etc/legwake/missing-ca.pem"\n'
                           'password = "hunter2"\n')
    path.chmod(0o600)
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (f"{path}: [mqtt] ca_file: expected {READABLE.format(user=user_name())}"
                             ', got "/etc/legwake/missing-ca.pem" (no such file)\n')


def test_check_config_for_one_command(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = write(tmp_path, f'[collect]\ndb = "{blocker}/fleet.db"\n'
                           f'[mqtt]\noutbox_path = "{tmp_path}/outbox.db"\n'
                           f'[log]\npath = "{tmp_path}/legwake.db"\n')
    assert CliRunner().invoke(main, ["check-config", str(path), "--for", "run"]).exit_code == 0
    result = CliRunner().invoke(main, ["check-config", str(path), "--for", "collect"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: [collect] db: expected")


def test_check_config_warns_about_a_readable_password(tmp_path: Path) -> None:
    path = write(tmp_path, f'[mqtt]\npassword = "hunter2"\noutbox_path = "{tmp_path}/o.db"\n')
    path.chmod(0o644)
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0
    assert result.stderr == (f"warning: {path}: [mqtt] password is set in a file that others can"
                             f" read (mode 0644): chmod o-r {path}\n")
    assert "hunter2" not in result.output


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize("command", ["run", "collect", "dashboard"])
def test_start_up_refuses_a_missing_tls_file(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, '[mqtt]\ntls = true\nca_file = "/etc/legwake/missing-ca.pem"\n')
    result = CliRunner().invoke(main, [command, "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"{path}: [mqtt] ca_file: expected {READABLE.format(user=user_name())}"
                             ', got "/etc/legwake/missing-ca.pem" (no such file)\n')
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.usefixtures("root_logging")
def test_start_up_logs_the_warning(tmp_path: Path) -> None:
    # No sensor configured: `legwake run` stops right after its checks.
    path = write(tmp_path, '[mat]\nport = ""\n[imu]\ntransport = "none"\n'
                           f'[mqtt]\npassword = "hunter2"\noutbox_path = "{tmp_path}/o.db"\n'
                           f'[log]\npath = "{tmp_path}/legwake.db"\n')
    path.chmod(0o604)
    result = CliRunner().invoke(main, ["run", "--config", str(path), "--log-format", "json"])
    assert result.exit_code == 1
    assert "no source is configured" in result.stderr
    assert (f'"level": "warning", "logger": "edge.cli", "message": "{path}: [mqtt] password is '
            f'set in a file that others can read (mode 0604): chmod o-r {path}"') in result.stderr
    assert "hunter2" not in result.output
