"""A real ``cirrus serve`` process over real HTTP: refusals, the cookie's attributes, a token minted
the way the benchmarks do it, and dicomweb-client with a read-only token."""

from __future__ import annotations

import io

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.uid import generate_uid
from requests.exceptions import HTTPError

from bench.common import cirrus_token
from tests.conftest import ADMIN_PASSWORD, LiveServer
from tests.dicom_helpers import ct_instance


def test_live_server_refuses_strangers_and_serves_token_holders(live_server: LiveServer) -> None:
    r = httpx.get(f"{live_server.dicomweb_url}/studies", timeout=30)
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="cirrus"'
    assert r.json()["error"]
    assert httpx.delete(f"{live_server.dicomweb_url}/studies/1.2.3", timeout=30).status_code == 401

    signed = httpx.post(f"{live_server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                        timeout=30)
    cookie = signed.headers["set-cookie"].lower()
    assert signed.status_code == 200
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie  # the default: Secure

    token = cirrus_token(live_server.url, ADMIN_PASSWORD)  # what the benchmarks do at server start
    read = httpx.post(f"{live_server.url}/api/tokens", json={"scope": "read", "name": "viewer"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30).json()["secret"]
    writer = DICOMwebClient(live_server.dicomweb_url, headers={"Authorization": f"Bearer {token}"})
    reader = DICOMwebClient(live_server.dicomweb_url, headers={"Authorization": f"Bearer {read}"})
    study = generate_uid()
    ds = dcmread(io.BytesIO(ct_instance(study=study)))
    writer.store_instances([ds])
    assert [s["0020000D"]["Value"][0] for s in reader.search_for_studies()] == [study]
    with pytest.raises(HTTPError) as refused:
        reader.store_instances([ds])
    assert refused.value.response.status_code == 403
