"""Audit messages to a hospital's audit record repository over syslog (IHE ATNA, ITI-20).

Each audit record leaves as one DICOM PS3.15 A.5 ``AuditMessage`` (``audit_atna``) in an RFC 5424
syslog message: ``<85>1 TIMESTAMP HOSTNAME APP-NAME PROCID IHE+RFC-3881 - BOM<AuditMessage…>``
(facility 10 security/authorization, severity 5 notice; the MSGID ATNA names for this format).

Transports (``CIRRUS_ATNA_SYSLOG_URL``):

- ``tls://host:port`` — RFC 5425: TLS (mutual when a client certificate is configured, as ATNA's
  secure node asks), each message framed as ``MSG-LEN SP SYSLOG-MSG``; one connection kept open and
  re-opened with a growing pause after a failure (the message in hand is sent again).
- ``udp://host:port`` — RFC 5426: one message per datagram.

The forwarder never blocks a request: records wait in a bounded queue (``CIRRUS_ATNA_QUEUE_SIZE``);
beyond it, while the receiver is away, they are counted as dropped and logged (the audit table keeps
every record either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from server.db.audit import AuditRecord
from server.db.database import utcnow
from server.services.audit_atna import audit_message
from server.settings import Settings

log = logging.getLogger("cirrus.audit.atna")

PRI = 10 * 8 + 5  # facility 10 (security/authorization), severity 5 (notice): RFC 5424 6.2.1
MSGID = "IHE+RFC-3881"
BOM = "\ufeff"
UDP_MAX = 65_507  # the largest IPv4 UDP payload
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
SOURCE_ID = "Cirrus"


class SyslogConfigError(ValueError):
    """A syslog destination Cirrus cannot use (named in the message)."""


@dataclass(frozen=True)
class Destination:
    transport: str  # "tls" or "udp"
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Destination:
        parts = urlsplit(url)
        if parts.scheme not in ("tls", "udp") or not parts.hostname:
            raise SyslogConfigError(f"CIRRUS_ATNA_SYSLOG_URL: {url!r} is not tls://host:port (RFC 5425) or "
                                    "udp://host:port (RFC 5426)")
        return cls(parts.scheme, parts.hostname, parts.port or (6514 if parts.scheme == "tls" else 514))


def _header_field(value: str, size: int) -> str:
    """An RFC 5424 header field: printable US-ASCII without spaces, ``-`` when empty."""
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:size]
    return cleaned or "-"


def syslog_message(record: AuditRecord, hostname: str, app_name: str, procid: str,
                   now: datetime | None = None) -> bytes:
    """One RFC 5424 message carrying ``record`` as a PS3.15 AuditMessage."""
    stamp = (now or utcnow()).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    xml = ET.tostring(audit_message(record, SOURCE_ID, hostname), encoding="unicode")
    header = (f"<{PRI}>1 {stamp} {_header_field(hostname, 255)} {_header_field(app_name, 48)} "
              f"{_header_field(procid, 128)} {MSGID} - ")
    return (header + BOM + xml).encode("utf-8")


def octet_counted(message: bytes) -> bytes:
    """RFC 5425 section 4.3: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode("ascii") + b" " + message


def tls_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.atna_ca_file or None)
    if settings.atna_certfile:
        ctx.load_cert_chain(settings.atna_certfile, settings.atna_keyfile or None)
    return ctx


class SyslogForwarder:
    """A bounded queue of audit records and one task that sends them (one per process)."""

    def __init__(self, destination: Destination, queue_size: int, app_name: str = "cirrus",
                 tls: ssl.SSLContext | None = None) -> None:
        self.destination = destination
        self.app_name = app_name
        self.tls = tls
        self.hostname = socket.gethostname()
        self.queue: asyncio.Queue[AuditRecord] = asyncio.Queue(maxsize=queue_size)
        self.sent = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: asyncio.DatagramTransport | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SyslogForwarder | None:
        if not settings.atna_syslog_url:
            return None
        destination = Destination.parse(settings.atna_syslog_url)
        tls = tls_context(settings) if destination.transport == "tls" else None
        return cls(destination, settings.atna_queue_size, settings.atna_app_name, tls)

    def submit(self, records: Iterable[AuditRecord]) -> None:
        """Queue ``records`` without waiting; a full queue counts and logs each drop."""
        for record in records:
            try:
                self.queue.put_nowait(record)
            except asyncio.QueueFull:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error("ATNA syslog queue full: %d audit message(s) not sent so far (the audit table "
                              "has them)", self.dropped)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="atna-syslog")

    async def drain(self, timeout: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)

    async def stop(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        await self.drain(timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._close()
        if not self.queue.empty():
            log.warning("ATNA syslog: %d audit message(s) not sent before the server stopped", self.queue.qsize())

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    async def _run(self) -> None:
        failures = 0
        while True:
            record = await self.queue.get()
            message = syslog_message(record, self.hostname, self.app_name, str(os.getpid()))
            while True:
                try:
                    await self._send(message)
                    self.sent += 1
                    failures = 0
                    break
                except (TimeoutError, OSError, ssl.SSLError) as exc:
                    self._close()
                    pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                    failures += 1
                    log.warning("ATNA syslog to %s:%d failed (%s); retrying in %.0f s", self.destination.host,
                                self.destination.port, exc, pause)
                    await asyncio.sleep(pause)
            self.queue.task_done()

    async def _send(self, message: bytes) -> None:
        d = self.destination
        if d.transport == "udp":
            if len(message) > UDP_MAX:
                log.error("ATNA syslog: an audit message of %d bytes is too large for UDP; not sent", len(message))
                return
            if self._udp is None:
                loop = asyncio.get_running_loop()
                self._udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                                   remote_addr=(d.host, d.port))
            self._udp.sendto(message)
            return
        if self._writer is None:
            _, self._writer = await asyncio.wait_for(
                asyncio.open_connection(d.host, d.port, ssl=self.tls, server_hostname=d.host), timeout=30)
        self._writer.write(octet_counted(message))
        await asyncio.wait_for(self._writer.drain(), timeout=30)
