"""A real Mosquitto broker and a real paho subscriber for tests, and the TLS files they need.

`Mosquitto` is the product's `edge.broker.LocalBroker` (`mosquitto` on a free 127.0.0.1
port, never 1883: a system broker may be there; started and stopped as `legwake demo`
does) with persistence, so a test can stop it and start it again on the same port with
the sessions it had; optionally TLS (a CA and certificates made here with
`cryptography`) and password files (`mosquitto_passwd`). It always kills its process
when closed. `Subscriber` is an ordinary paho client that records what it
receives.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.broker import HOST, LocalBroker
from edge.processes import kill

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


# --- TLS files ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path, *, name: str = "test") -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"legwake {name} CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name: str, usage: x509.ObjectIdentifier,
             alt_names: list[x509.GeneralName]) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names),
                                            critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    server_cert, server_key = leaf(
        "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")])
    client_cert, client_key = leaf("legwake-agent", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    files = TlsFiles(ca_cert=directory / "ca.crt", server_cert=directory / "server.crt",
                     server_key=directory / "server.key", client_cert=directory / "client.crt",
                     client_key=directory / "client.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert)
    files.server_key.write_bytes(server_key)
    files.client_cert.write_bytes(client_cert)
    files.client_key.write_bytes(client_key)
    for key_file in (files.server_key, files.client_key):
        key_file.chmod(0o600)
    return files


# --- the broker ---------------------------------------------------------------------------------


class Mosquitto(LocalBroker):
    """The product's local broker (edge/broker.py) with persistence, so a test can stop it
    and start it again on the same port with the sessions it had, and optionally TLS and
    password files; `pause`/`resume` freeze it, `close` always kills it."""

    def __init__(self, directory: Path, *, tls: TlsFiles | None = None,
                 require_client_cert: bool = False,
                 users: dict[str, str] | None = None) -> None:
        self.tls = tls
        self.require_client_cert = require_client_cert
        self.users = users
        self.password_path = directory / "passwords"
        directory.mkdir(parents=True, exist_ok=True)
        if users is not None:
            self.set_users(users, reload=False)
        super().__init__(directory, persistence=True, allow_anonymous=users is None)

    def config_lines(self) -> list[str]:
        lines = super().config_lines()
        if self.users is not None:
            lines.append(f"password_file {self.password_path}")
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca_cert}", f"certfile {self.tls.server_cert}",
                      f"keyfile {self.tls.server_key}",
                      f"require_certificate {'true' if self.require_client_cert else 'false'}"]
        return lines

    def set_users(self, users: dict[str, str], *, reload: bool = True) -> None:
        """Write the password file anew; `reload` makes a running broker read it (SIGHUP)."""
        self.users = users
        self.password_path.unlink(missing_ok=True)
        for i, (user, password) in enumerate(users.items()):
            args = [MOSQUITTO_PASSWD, "-b"] + (["-c"] if i == 0 else []) + [
                str(self.password_path), user, password]
            subprocess.run(args, check=True, capture_output=True)
        self.password_path.chmod(0o600)
        if reload and self.running:
            self.signal(signal.SIGHUP)
            time.sleep(0.2)  # mosquitto reloads between two network loops

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its sessions and retained messages, then exits."""
        if self.running:
            self.signal(signal.SIGCONT)  # in case it was paused
        super().stop(timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing is read or acknowledged."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def close(self) -> None:
        """Always leaves no process behind."""
        if self.process is not None:
            if self.running:
                self.signal(signal.SIGCONT)
            kill(self.process)
            self.process = None

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- a subscriber -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    at: float  # time.perf_counter() when paho handed it over

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")


class Broker(Protocol):
    """Where a broker listens: a `Mosquitto`, or any host and port (a demo's broker)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


class Subscriber:
    """A paho client that subscribes to `topics` (QoS 1) on every connection and keeps
    every message. `persistent` keeps its session (and the messages queued for it) on the
    broker while it is away, across broker restarts too."""

    def __init__(self, broker: Broker, topics: Iterable[str], *, client_id: str = "",
                 persistent: bool = False, protocol: str = "5",
                 tls: TlsFiles | None = None, username: str | None = None,
                 password: str | None = None) -> None:
        self.broker = broker
        self.topics = list(topics)
        self.messages: list[Received] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        v5 = protocol == "5"
        self.v5 = v5
        self.persistent = persistent
        if persistent and not client_id:
            raise ValueError("a persistent session needs a client_id")
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else not persistent)
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        if tls is not None:
            self.client.tls_set(ca_certs=str(tls.ca_cert), certfile=str(tls.client_cert),
                                keyfile=str(tls.client_key))
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def start(self, timeout: float = 5.0) -> Subscriber:
        options: dict[str, object] = {}
        if self.v5:
            options["clean_start"] = not self.persistent
            if self.persistent:
                properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = 3600
                options["properties"] = properties
        self.client.connect(self.broker.host, self.broker.port, 30, **options)  # type: ignore[arg-type]
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError("no SUBACK")
        return self

    def _on_connect(self, client: paho.Client, userdata: object, flags: object,
                    reason: object, properties: object) -> None:
        if self.topics:
            client.subscribe([(topic, 1) for topic in self.topics])
        else:
            self._subscribed.set()

    def _on_subscribe(self, *args: object) -> None:
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: object,
                    message: paho.MQTTMessage) -> None:
        received = Received(topic=message.topic, payload=bytes(message.payload),
                            retain=bool(message.retain), qos=message.qos,
                            at=time.perf_counter())
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._changed:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, done: Callable[[Subscriber], bool], timeout: float = 10.0,
                 what: str = "messages") -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    topics = sorted({m.topic for m in self.messages})
                    raise TimeoutError(f"waited {timeout} s for {what}; have"
                                       f" {len(self.messages)} messages on {topics}")
                self._changed.wait(remaining)

    def wait_count(self, topic: str, count: int, timeout: float = 10.0) -> list[Received]:
        self.wait_for(lambda s: len(s.on(topic)) >= count, timeout, f"{count} on {topic}")
        return self.on(topic)

    def publish(self, topic: str, payload: str | bytes, *, retain: bool = False,
                qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(5.0)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client.on_connect = self.client.on_subscribe = self.client.on_message = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
