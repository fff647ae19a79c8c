"""Hard limits (issue 12): STOW body, part size and count, frames per request, rendered pixels,
stalled bodies, TLS. Real app on SQLite and PostgreSQL; a real server process for timeouts and TLS."""

from __future__ import annotations

import datetime
import io
import socket
import ssl
import time
from pathlib import Path

import httpx
import pydicom
import pytest

from server.app import create_app
from server.auth.principal import Role
from tests.auth_helpers import provision_token
from tests.conftest import LiveServer, authed_client, live_server_env
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart

SQ_REFERENCED, SQ_FAILED, FAILURE_REASON = "00081199", "00081198", "00081197"


@pytest.fixture
def limited(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, stow_max_bytes=60_000, stow_max_instance_bytes=3_000,
                                stow_max_parts=5, max_frames_per_request=3)
    with authed_client(create_app(settings)) as c:
        yield c


def test_stow_body_part_and_count_limits(limited) -> None:  # type: ignore[no-untyped-def]
    small = [ct_instance(size=16, number=i) for i in range(3)]  # ~1.4 KB each
    big = ct_instance(size=48)  # ~5.6 KB: over the per-instance limit
    r = limited.post("/dicom-web/studies", content=multipart([small[0], big, small[1]]),
                     headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 202, r.text
    body = r.json()
    assert len(body[SQ_REFERENCED]["Value"]) == 2
    assert [f[FAILURE_REASON]["Value"][0] for f in body[SQ_FAILED]["Value"]] == [0xA700]
    assert "larger than the limit of 3000 bytes" in r.text
    # A single-part body over the instance limit, a declared length over the body limit.
    r = limited.post("/dicom-web/studies", content=big, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 413 and "limit of 3000" in r.text
    r = limited.post("/dicom-web/studies", content=b"x" * 70_000, headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 413 and "limit of 60000" in r.text
    # Streamed (chunked, no Content-Length) over the body limit.
    def chunks():  # type: ignore[no-untyped-def]
        yield multipart([small[2]] * 4)[:-10]
        for _ in range(20):
            yield b"y" * 4000
    r = limited.post("/dicom-web/studies", content=chunks(), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 413 and "limit of 60000" in r.text
    r = limited.post("/dicom-web/studies", content=multipart([small[2]] * 6), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 413 and "limit of 5 parts" in r.text


def test_frames_per_request_and_rendered_pixels(limited) -> None:  # type: ignore[no-untyped-def]
    data = ct_instance(size=16)
    assert limited.post("/dicom-web/studies", content=data, headers={"Content-Type": "application/dicom"}
                        ).status_code == 200
    ds = pydicom.dcmread(io.BytesIO(data))
    inst = f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    r = limited.get(inst + "/frames/1,2,3,4")
    assert r.status_code == 400 and "more than 3 frames" in r.text
    r = limited.get(inst + "/rendered?viewport=8192,8192")
    assert r.status_code == 400 and "viewport" in r.text and "16777216" in r.text
    r = limited.get(inst + "/rendered?viewport=1024,1024")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"


def _server(database_url: str, tmp_path: Path, **env: str) -> LiveServer:
    data_dir = tmp_path / "live"
    data_dir.mkdir(exist_ok=True)
    return LiveServer(live_server_env(database_url, data_dir, **env), data_dir)


def test_a_stalled_body_is_answered_408_and_closed(sqlite_url: str, tmp_path: Path) -> None:
    server = _server(sqlite_url, tmp_path, CIRRUS_BODY_TIMEOUT_SECONDS="1").start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(f"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\nContent-Type: {STOW_TYPE}\r\n"
                      f"Authorization: Bearer {server.token}\r\n"
                      "Content-Length: 100000\r\n\r\n--cirrus".encode())
            started = time.monotonic()
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
            elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"stalled" in answer
        assert elapsed < 5, elapsed  # answered after about a second, then closed
        assert httpx.get(server.url + "/dicom-web/studies", headers=server.headers).status_code == 200  # others fine
    finally:
        server.stop()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile


def test_serve_with_certfile_and_keyfile_speaks_tls(sqlite_url: str, tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    token = provision_token(sqlite_url, tmp_path, "tls-reader", Role.READ_ONLY, "read")
    server = _server(sqlite_url, tmp_path, CIRRUS_CERTFILE=str(certfile), CIRRUS_KEYFILE=str(keyfile))
    server.start(mint_token=False)
    try:
        context = ssl.create_default_context(cafile=str(certfile))
        context.check_hostname = False
        r = httpx.get(f"https://127.0.0.1:{server.port}/dicom-web/studies", verify=context,
                      headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/dicom-web/studies", timeout=5)
    finally:
        server.stop()
