"""A real ``cirrus dimse`` process and the DCMTK command-line clients that talk to it."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import httpx
import pydicom
import pytest

from tests.processes import CirrusProcess, cirrus
from tests.server.routes.test_wado import split_multipart

__all__ = ["ANY_SYNTAX", "DimseProcess", "cirrus", "dataset_bytes", "make_ca", "require_dcmtk", "retrieve_instance",
           "same_object", "signed_cert", "sop_uid"]

ANY_SYNTAX = 'multipart/related; type="application/dicom"; transfer-syntax=*'
DCMTK = ("echoscu", "storescu", "findscu", "getscu", "movescu")


def require_dcmtk() -> None:
    missing = [tool for tool in DCMTK if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"DCMTK tools missing ({', '.join(missing)}): `make system-deps` installs Debian dcmtk")


class DimseProcess(CirrusProcess):
    """``cirrus dimse`` on a free port, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path, ae_title: str = "CIRRUS") -> None:
        super().__init__(env, log)
        self.ae_title = ae_title

    def start(self) -> DimseProcess:
        self.listen(["dimse", "--port", str(self.port), "--ae", self.ae_title])
        return self

    def tool(self, name: str, calling: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a DCMTK client against this SCP (``name -aet calling -aec CIRRUS ... host port``)."""
        # Positional peer and port come before any files (storescu/findscu/getscu/movescu alike).
        files = [a for a in args if a.endswith(".dcm")]
        opts = [a for a in args if not a.endswith(".dcm")]
        cmd = [name, "-aet", calling, "-aec", self.ae_title, *opts, "127.0.0.1", str(self.port), *files]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def retrieve_instance(http: httpx.Client, study: str, series: str, sop: str) -> bytes:
    """WADO-RS of one instance in its stored transfer syntax: the Part 10 bytes."""
    r = http.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sop}", headers={"Accept": ANY_SYNTAX})
    assert r.status_code == 200, r.text
    parts = split_multipart(r.headers["content-type"], r.content)
    assert len(parts) == 1
    return parts[0][1]


def dataset_bytes(raw: bytes) -> bytes:
    """The data set of a Part 10 file without preamble and file meta (what DIMSE transfers)."""
    assert raw[128:132] == b"DICM", "not a Part 10 file"
    group_length = int.from_bytes(raw[140:144], "little")  # (0002,0000) UL, explicit VR LE
    return raw[144 + group_length:]


def same_object(sent: bytes, stored: bytes) -> bool:
    """The data sets agree element by element and in transfer syntax (DCMTK re-encodes what it
    sends, dropping e.g. trailing padding, so files it did not write are compared this way)."""
    a, b = (pydicom.dcmread(io.BytesIO(raw)) for raw in (sent, stored))
    if a.file_meta.TransferSyntaxUID != b.file_meta.TransferSyntaxUID:
        return False
    for ds in (a, b):
        if "DataSetTrailingPadding" in ds:
            del ds.DataSetTrailingPadding
    return bool(a == b)


def sop_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA made by the openssl CLI (test certificates are never committed)."""
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
             "-days", "2", "-subj", f"/CN={name}")
    return key, cert


def signed_cert(folder: Path, name: str, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    key, csr, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.crt"
    ext = folder / f"{name}.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]), "-CAcreateserial",
             "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return key, cert
