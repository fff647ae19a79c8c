"""ATNA: audit messages to a syslog receiver — RFC 5425 (TLS, mutual) and RFC 5426 (UDP) — from a real
server to a real receiver process (``openssl s_server``, ``socat``), on SQLite and PostgreSQL; a
receiver that never answers does not slow requests down (issue 11).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest

from server.db.audit import AuditAction, AuditOutcome, AuditRecord
from server.services import atna_syslog
from tests.conftest import LiveServer, free_port, live_server_env

HEADER = re.compile(rb"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) - \xef\xbb\xbf")


def test_a_record_is_an_rfc5424_message_holding_a_ps315_audit_message() -> None:
    record = AuditRecord(action=AuditAction.FAILED_LOGIN, outcome=AuditOutcome.DENIED, actor="dr zhang",
                         client_address="10.1.2.3", status=401, method="POST", path="/api/auth/login")
    message = atna_syslog.syslog_message(record, "pacs host", "cirrus", "42")
    head = HEADER.match(message)
    assert head is not None, message[:120]
    assert head.group(1) == b"85"  # facility 10, severity 5
    assert head.group(2).endswith(b"Z") and head.group(3) == b"pacshost"  # no spaces in header fields
    assert head.groups()[3:] == (b"cirrus", b"42", b"IHE+RFC-3881")
    xml = ET.fromstring(message[head.end():].decode("utf-8"))
    assert xml.tag == "AuditMessage"
    event = xml.find("EventIdentification")
    assert event is not None and event.get("EventOutcomeIndicator") == "8"
    assert xml.find("EventIdentification/EventID").get("csd-code") == "110114"  # type: ignore[union-attr]
    framed = atna_syslog.octet_counted(message)
    assert framed == str(len(message)).encode() + b" " + message
    with pytest.raises(atna_syslog.SyslogConfigError, match="tls://host:port"):
        atna_syslog.Destination.parse("tcp://x:1")
    assert atna_syslog.Destination.parse("tls://audit.example.org") == atna_syslog.Destination(
        "tls", "audit.example.org", 6514)


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "2",
             "-subj", "/CN=Test audit CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
                 "-subj", f"/CN=cirrus-{name}")
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey",
                 str(d / "ca.key"), "-CAcreateserial", "-out", str(d / f"{name}.pem"), "-days", "2",
                 "-extfile", str(d / f"{name}.ext"))
    return Certs(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")


class Receiver:
    """A receiver process writing what it receives to ``out``."""

    def __init__(self, args: list[str], out: Path, port: int) -> None:
        self.out, self.port = out, port
        self._file = open(out, "wb")  # noqa: SIM115 - the child writes into it until stop()
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=self._file, stderr=subprocess.DEVNULL)

    def messages(self) -> list[bytes]:
        return [m.group(0) for m in re.finditer(rb"<\d+>1 .*?</AuditMessage>", self.out.read_bytes(), re.S)]

    def wait_for(self, wanted: bytes, timeout: float = 60.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages() if wanted in m]
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no message with {wanted!r} received; got {self.out.read_bytes()[:2000]!r}")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._file.close()


def _wait_udp(port: int) -> None:
    time.sleep(0.5)  # socat binds at once; UDP has no handshake to wait for


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def tls_receiver(certs: Certs, tmp_path: Path) -> Iterator[Receiver]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed")
    port = free_port()
    r = Receiver(["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}", "-cert", str(certs.server_cert),
                  "-key", str(certs.server_key), "-CAfile", str(certs.ca), "-Verify", "1"], tmp_path / "tls.out", port)
    deadline = time.monotonic() + 30
    while not _listening(port):
        assert time.monotonic() < deadline and r.proc.poll() is None, "openssl s_server did not listen"
        time.sleep(0.1)
    yield r
    r.stop()


@pytest.fixture
def udp_receiver(tmp_path: Path) -> Iterator[Receiver]:
    if shutil.which("socat") is None:
        pytest.fail("socat is not installed")
    port = free_port()
    out = tmp_path / "udp.out"
    r = Receiver(["socat", "-u", f"UDP4-RECV:{port},bind=127.0.0.1", "STDOUT"], out, port)
    _wait_udp(port)
    yield r
    r.stop()


def _audited_requests(server: LiveServer) -> None:
    """A failed sign-in by dr.wang and a QIDO by the admin."""
    r = httpx.post(f"{server.url}/api/auth/login", json={"username": "dr.wang", "password": "wrong-password-1"},
                   timeout=30)
    assert r.status_code == 401
    assert httpx.get(f"{server.dicomweb_url}/studies", headers=server.headers, timeout=30).status_code == 200


def _check_received(receiver: Receiver) -> None:
    [failed] = receiver.wait_for(b'UserID="dr.wang"')
    head = HEADER.match(failed)
    assert head is not None and head.group(6) == b"IHE+RFC-3881"
    xml = ET.fromstring(failed[head.end():].decode("utf-8"))
    assert xml.find("EventIdentification/EventID").get("csd-code") == "110114"  # type: ignore[union-attr]
    assert xml.find("EventIdentification").get("EventOutcomeIndicator") != "0"  # type: ignore[union-attr]
    assert receiver.wait_for(b'csd-code="110112"')  # the QIDO: Query


def test_audit_messages_reach_a_tls_receiver(database_url: str, tmp_path: Path, certs: Certs,
                                             tls_receiver: Receiver) -> None:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    env = live_server_env(database_url, data_dir, CIRRUS_ATNA_SYSLOG_URL=f"tls://127.0.0.1:{tls_receiver.port}",
                          CIRRUS_ATNA_CA_FILE=str(certs.ca), CIRRUS_ATNA_CERTFILE=str(certs.client_cert),
                          CIRRUS_ATNA_KEYFILE=str(certs.client_key))
    server = LiveServer(env, data_dir).start()
    try:
        _audited_requests(server)
        _check_received(tls_receiver)
        # RFC 5425 framing: the stream is exactly MSG-LEN SP MSG, one after the other.
        stream, count = tls_receiver.out.read_bytes(), 0
        while stream:
            length, _, rest = stream.partition(b" ")
            assert length.isdigit(), stream[:60]
            assert HEADER.match(rest[:int(length)]) is not None
            stream, count = rest[int(length):], count + 1
        assert count >= 2
    finally:
        server.stop()


def test_a_tls_receiver_must_be_trusted(sqlite_url: str, tmp_path: Path, certs: Certs,
                                        tls_receiver: Receiver) -> None:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    # No CA file: the receiver's certificate (signed by the test CA) is not trusted, nothing is sent.
    env = live_server_env(sqlite_url, data_dir, CIRRUS_ATNA_SYSLOG_URL=f"tls://127.0.0.1:{tls_receiver.port}",
                          CIRRUS_ATNA_CERTFILE=str(certs.client_cert), CIRRUS_ATNA_KEYFILE=str(certs.client_key))
    server = LiveServer(env, data_dir).start()
    try:
        _audited_requests(server)
        deadline = time.monotonic() + 30
        while "CERTIFICATE_VERIFY_FAILED" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "CERTIFICATE_VERIFY_FAILED" in server.output()
        assert tls_receiver.messages() == []
    finally:
        server.stop()


def test_audit_messages_reach_a_udp_receiver(database_url: str, tmp_path: Path, udp_receiver: Receiver) -> None:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    env = live_server_env(database_url, data_dir, CIRRUS_ATNA_SYSLOG_URL=f"udp://127.0.0.1:{udp_receiver.port}")
    server = LiveServer(env, data_dir).start()
    try:
        _audited_requests(server)
        _check_received(udp_receiver)
    finally:
        server.stop()


def test_a_receiver_that_never_answers_does_not_slow_requests(sqlite_url: str, tmp_path: Path) -> None:
    # It accepts connections and reads nothing: the TLS handshake never completes.
    silent = socket.create_server(("127.0.0.1", 0), backlog=16)
    port = silent.getsockname()[1]
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    env = live_server_env(sqlite_url, data_dir, CIRRUS_ATNA_SYSLOG_URL=f"tls://127.0.0.1:{port}",
                          CIRRUS_ATNA_QUEUE_SIZE="5")
    server = LiveServer(env, data_dir).start()
    try:
        slowest = 0.0
        with httpx.Client(headers=server.headers, timeout=30) as c:
            for _ in range(60):
                started = time.monotonic()
                assert c.get(f"{server.dicomweb_url}/studies").status_code == 200
                slowest = max(slowest, time.monotonic() - started)
        print(f"slowest of 60 QIDOs while the receiver hangs: {slowest * 1000:.0f} ms")
        assert slowest < 2.0
        deadline = time.monotonic() + 30
        while "ATNA syslog queue full" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "ATNA syslog queue full" in server.output()
    finally:
        server.stop()
        silent.close()
