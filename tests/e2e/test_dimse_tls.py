"""DICOM TLS of `cirrus dimse`: DCMTK over TLS with mutual authentication, plain TCP and foreign
client certificates refused, the stored object byte-identical through WADO."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom import Dataset
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

from tests.conftest import LiveServer, free_port, live_server_env, wait_for_port
from tests.e2e.dimse_helpers import (
    DimseProcess,
    cirrus,
    make_ca,
    require_dcmtk,
    retrieve_instance,
    same_object,
    signed_cert,
)


@pytest.mark.parametrize("mutual", [True, False], ids=["mutual", "server-only"])
def test_tls_store_and_refusals(sqlite_url: str, tmp_path: Path, mutual: bool) -> None:
    require_dcmtk()
    certs = tmp_path / "certs"
    certs.mkdir()
    ca = make_ca(certs, "cirrus-ca")
    server_key, server_cert = signed_cert(certs, "cirrus-scp", ca)
    client_key, client_cert = signed_cert(certs, "modality", ca)
    rogue_key, rogue_cert = signed_cert(certs, "rogue", make_ca(certs, "rogue-ca"))
    data = tmp_path / "live"
    data.mkdir()
    tls = {"CIRRUS_DIMSE_TLS_CERTFILE": str(server_cert), "CIRRUS_DIMSE_TLS_KEYFILE": str(server_key),
           "CIRRUS_DIMSE_TLS_DESTINATIONS": "OTHER, WORKSTATION"}
    # The CA verifies TLS C-MOVE destinations in both cases; only with mutual TLS are callers checked.
    tls["CIRRUS_DIMSE_TLS_CAFILE"] = str(ca[1])
    tls["CIRRUS_DIMSE_TLS_VERIFY_CALLERS"] = "true" if mutual else "false"
    env = live_server_env(sqlite_url, data, **tls)
    assert cirrus(env, "ae", "add", "MODALITY").returncode == 0
    server = LiveServer(env, data).start()
    dimse = DimseProcess(env, data / "dimse.log").start()
    trust = ("+cf", str(ca[1]))
    try:
        echo = dimse.tool("echoscu", "MODALITY", "+tls", str(client_key), str(client_cert), *trust)
        assert echo.returncode == 0, echo.stderr + dimse.output()

        # A plain TCP caller on the TLS port gets no association.
        plain = dimse.tool("echoscu", "MODALITY", timeout=60)
        assert plain.returncode != 0

        # A certificate from another CA: refused when mutual TLS is on, accepted otherwise.
        rogue = dimse.tool("echoscu", "MODALITY", "+tls", str(rogue_key), str(rogue_cert), *trust)
        assert (rogue.returncode != 0) is mutual, rogue.stderr

        ct = Path(str(get_testdata_file("CT_small.dcm")))
        stored = dimse.tool("storescu", "MODALITY", "+tls", str(client_key), str(client_cert), *trust,
                            "-xe", str(ct))
        assert stored.returncode == 0, stored.stderr + dimse.output()
        with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as http:
            ds = pydicom.dcmread(ct, stop_before_pixels=True)
            raw = retrieve_instance(http, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert same_object(ct.read_bytes(), raw)

        # C-MOVE over TLS (pynetdicom as the workstation; movescu has no TLS) to a destination
        # listed as a TLS peer: DCMTK's storescp with TLS, which verifies our certificate.
        moved = tmp_path / "moved"
        moved.mkdir()
        port = free_port()
        assert cirrus(env, "ae", "add", "WORKSTATION", "--host", "127.0.0.1", "--port", str(port)).returncode == 0
        scp_log = (tmp_path / "storescp.log").open("w")
        scp = subprocess.Popen(["storescp", "+tls", str(client_key), str(client_cert), *trust,
                                "-aet", "WORKSTATION", "-od", str(moved), str(port)],
                               stdout=scp_log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, timeout=30)
            ae = AE(ae_title="WORKSTATION")
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
            context = ssl.create_default_context(cafile=str(ca[1]))
            context.load_cert_chain(str(client_cert), str(client_key))
            assoc = ae.associate("127.0.0.1", dimse.port, ae_title="CIRRUS", tls_args=(context, "127.0.0.1"))
            assert assoc.is_established, dimse.output()
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = ds.StudyInstanceUID
            statuses = [status.Status for status, _ in assoc.send_c_move(
                query, "WORKSTATION", StudyRootQueryRetrieveInformationModelMove) if status]
            assoc.release()
            assert statuses[-1] == 0x0000, (statuses, dimse.output(), (tmp_path / "storescp.log").read_text())
        finally:
            scp.terminate()
            scp.wait(30)
            scp_log.close()
        received = list(moved.iterdir())
        assert len(received) == 1
        assert same_object(ct.read_bytes(), received[0].read_bytes())
    finally:
        dimse.stop()
        server.stop()

