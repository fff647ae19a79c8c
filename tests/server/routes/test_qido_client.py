"""QIDO-RS against a real ``cirrus serve`` with a third-party client (dicomweb-client).

Checks what the in-process tests cannot: real HTTP (uvicorn, percent-encoding
as a real client writes it, gzip), and a client's own paging loop.
"""

from __future__ import annotations

import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file
from requests.exceptions import HTTPError

from tests.conftest import LiveServer
from tests.server.routes.test_qido import SPECS, first, synthetic, uid, values


@pytest.fixture
def dw(live_server: LiveServer) -> DICOMwebClient:
    client = DICOMwebClient(url=live_server.dicomweb_url, headers=live_server.headers)
    datasets = [synthetic(s) for s in SPECS if s.state == "created"]
    datasets += [dcmread(get_testdata_file(name)) for name in ("CT_small.dcm", "MR_small.dcm")]
    response = client.store_instances(datasets)
    assert "FailedSOPSequence" not in response, response
    return client


def test_dicomweb_client_searches(dw: DICOMwebClient) -> None:
    visible = {uid(s.study) for s in SPECS if s.state == "created"}
    everything = dw.search_for_studies()
    assert len(everything) == len(visible) + 2

    # The client's own limit/offset loop sees every study once, in the server's order.
    paged = dw.search_for_studies(limit=2, get_remaining=True)
    assert [first(i, "StudyInstanceUID") for i in paged] == [first(i, "StudyInstanceUID") for i in everything]

    found = dw.search_for_studies(search_filters={"PatientName": "synth*"}, fields=["StudyDescription"])
    assert {first(i, "StudyInstanceUID") for i in found} == {uid("2"), uid("3")}
    assert {first(i, "StudyDescription") for i in found} == {"Chest CT", "PET WB"}

    found = dw.search_for_studies(search_filters={"PatientName": "mary"}, fuzzymatching=True)
    assert [first(i, "StudyInstanceUID") for i in found] == [uid("4")]

    found = dw.search_for_studies(search_filters={"StudyDate": "20240101-20241231", "ModalitiesInStudy": "MR"})
    assert [first(i, "StudyInstanceUID") for i in found] == [uid("1")]
    assert values(found[0], "ModalitiesInStudy") == ["MR"]
    assert first(found[0], "NumberOfStudyRelatedInstances") == 3

    series = dw.search_for_series(study_instance_uid=uid("1"), fields=["SeriesDescription", "SeriesDate"])
    assert [first(s, "SeriesDescription") for s in series] == ["T1 MPRAGE", "pCASL ASL"]
    instances = dw.search_for_instances(
        study_instance_uid=uid("1"), series_instance_uid=uid("1", "1"), fields=["SliceThickness"]
    )
    assert [first(i, "InstanceNumber") for i in instances] == [1, 2]
    assert {first(i, "SliceThickness") for i in instances} == {3.0}

    # A malformed value is a 400 naming the attribute, which the client raises as an HTTP error.
    with pytest.raises(HTTPError) as info:
        dw.search_for_studies(search_filters={"StudyDate": "2024-01-01"})
    assert info.value.response.status_code == 400
    assert "StudyDate" in info.value.response.json()["error"]
