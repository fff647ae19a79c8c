"""PACS pull end to end: Orthanc as the hospital PACS, a real ``cirrus serve`` (the API) and a real
``cirrus pull`` (worker and C-MOVE receiver) on one database.

What is checked is what arrives in Cirrus (QIDO-RS), the pull state and the decision log through
``/api/pull/...``, and the order of the pulls in the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.conftest import LiveServer, free_port, live_server_env, make_database_url
from tests.e2e.pacs_helpers import Blackhole, OrthancPACS, PullProcess, instance, series_of, wait_until

CHINESE_HEAD = "头颅"
# What a PACS shows when GB18030 bytes are declared ISO_IR 100 (Latin-1): mis-encoded text.
MISENCODED_HEAD = CHINESE_HEAD.encode("gb18030").decode("latin-1")
BRAIN = {"name": "brain ASL", "priority": 10, "study_filter": "ModalitiesInStudy=MR",
         "series_filter": f"Modality=MR BodyPartExamined~HEAD,BRAIN,{CHINESE_HEAD} ImageType!~LOCALIZER "
                          "NumberOfSeriesRelatedInstances>=3"}
CHEST = {"name": "chest CT", "priority": 5, "study_filter": "ModalitiesInStudy=CT",
         "series_filter": "BodyPartExamined~CHEST"}


@dataclass
class Site:
    env: dict[str, str]
    http: httpx.Client
    data: Path
    pull_port: int

    def pull(self, name: str = "pull", **env: str) -> PullProcess:
        return PullProcess({**self.env, **env}, self.data / f"{name}.log", self.pull_port).start()

    def why(self, study: str) -> dict[str, Any]:
        r = self.http.get("/api/pull/why", params={"study": study})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def state(self, study: str) -> str | None:
        pull = self.why(study)["pull"]
        return None if pull is None else pull["state"]

    def stored(self, study: str) -> int:
        r = self.http.get("/dicom-web/instances", params={"StudyInstanceUID": study})
        return 0 if r.status_code == 204 else len(r.json())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One Cirrus (``cirrus serve``) per database for the whole module: starting it is the slow part
    on a loaded machine. Each test adds its own sources and rules (removed after it), uses studies
    of its own, and starts its own ``cirrus pull``."""
    tmp = tmp_path_factory.mktemp(f"pull-{request.param}")
    database = make_database_url(request.param, tmp)
    database_url = next(database)
    data = tmp / "live"
    data.mkdir()
    port = free_port()
    env = live_server_env(database_url, data, CIRRUS_PULL_PORT=str(port), CIRRUS_PULL_POLL_SECONDS="1.5",
                          CIRRUS_PULL_QUIET_SECONDS="0.5", CIRRUS_PULL_LEASE_SECONDS="4",
                          CIRRUS_PULL_MAX_ATTEMPTS="2", CIRRUS_DIMSE_TIMEOUT_SECONDS="15",
                          CIRRUS_PULL_MOVE_TIMEOUT_SECONDS="30")
    # Started once per module: a start on a loaded 2-core runner may take minutes, so wait long.
    server = LiveServer(env, data).start(timeout=300)
    try:
        with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as http:
            yield Site(env, http, data, port)
    finally:
        server.stop()
        database.close()


@pytest.fixture(autouse=True)
def _own_sources_and_rules(site: Site) -> Iterator[None]:
    yield
    for kind, key in (("sources", "sources"), ("rules", "rules")):
        for row in site.http.get(f"/api/pull/{kind}").json()[key]:
            assert site.http.delete(f"/api/pull/{kind}/{row['id']}").status_code == 204


def _add(site: Site, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = site.http.post(path, json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _attempt_order(site: Site, studies: dict[str, str]) -> list[str]:
    """The studies in the order of their first pull attempt (event ids are in time order)."""
    firsts = []
    for name, uid in studies.items():
        events = [e for e in site.why(uid)["events"] if e["kind"] == "attempt"]
        if events:
            firsts.append((events[0]["at"], name))
    return [name for _, name in sorted(firsts)]


def test_rules_select_series_priorities_and_why_not(site: Site, tmp_path: Path) -> None:
    pacs = OrthancPACS(tmp_path / "pacs", "PACS_A", site.pull_port).start()
    try:
        source = _add(site, "/api/pull/sources", pacs.source("main PACS"))
        _add(site, "/api/pull/rules", BRAIN)
        _add(site, "/api/pull/rules", CHEST)
        u = {k: generate_uid() for k in ("brain", "chinese", "chest", "knee", "requested", "hinted")}
        # A brain ASL whose study description says nothing: taken by its series.
        asl = series_of(u["brain"], 3, StudyDescription=".", BodyPartExamined="HEAD", ProtocolName="pcasl_3d",
                        ImageType=["ORIGINAL", "PRIMARY"], study_time="080000")
        localizer = series_of(u["brain"], 3, StudyDescription=".", BodyPartExamined="HEAD",
                              ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"], study_time="080000")
        thin = series_of(u["brain"], 2, StudyDescription=".", BodyPartExamined="HEAD", study_time="080000")
        # The body part in Chinese, GB18030 bytes declared as Latin-1.
        chinese = series_of(u["chinese"], 3, charset="ISO_IR 100", BodyPartExamined=MISENCODED_HEAD,
                            StudyDescription="MR", study_time="090000")
        chest = series_of(u["chest"], 3, modality="CT", BodyPartExamined="CHEST", study_time="070000",
                          sop_class="1.2.840.10008.5.1.4.1.1.2")
        knee = series_of(u["knee"], 3, BodyPartExamined="KNEE", StudyDescription="MR brain (wrong)")
        requested = series_of(u["requested"], 3, BodyPartExamined="ANKLE", study_time="100000")
        # A head MR sent as KNEE; the RIS order of its accession number says HEAD, urgent.
        hinted = series_of(u["hinted"], 3, BodyPartExamined="KNEE", StudyDescription="MR", study_time="110000")
        pacs.store(*asl, *localizer, *thin, *chinese, *chest, *knee, *requested, *hinted)
        r = site.http.post("/api/pull/hints", content=f"accession_number,body_part,priority\nACC{u['hinted'][-8:]},"
                           "HEAD,urgent\n".encode(), headers={"Content-Type": "text/csv"})
        assert r.status_code == 200 and r.json()["added"] == 1, r.text
        r = site.http.post("/api/pull/requests", json={"study_uid": u["requested"]})
        assert r.status_code == 202, r.text

        # A rule test against given attributes, before any poll.
        brain_rule = site.http.get("/api/pull/rules").json()["rules"][0]
        test = site.http.post(f"/api/pull/rules/{brain_rule['id']}/test", json={
            "study": {"ModalitiesInStudy": ["CT", "PR"]}, "series": []})
        assert test.status_code == 200 and not test.json()["taken"]
        assert "ModalitiesInStudy" in test.json()["reason"]

        worker = site.pull()
        try:
            done = {"brain", "chinese", "chest", "requested", "hinted"}
            wait_until(lambda: all(site.state(u[k]) == "complete" for k in done), 120, "the pulls")
        finally:
            worker.stop()
        assert site.stored(u["brain"]) == 3  # the ASL series only: localizer and the thin series left
        assert site.stored(u["chinese"]) == 3
        assert site.stored(u["chest"]) == 3
        assert site.stored(u["requested"]) == 3
        assert site.stored(u["hinted"]) == 3
        assert site.stored(u["knee"]) == 0
        assert site.state(u["knee"]) == "rejected"
        brain = site.why(u["brain"])["pull"]
        assert brain["series_uids"] and len(brain["series_uids"]) == 1
        assert brain["expected_count"] == brain["received_count"] == 3
        assert brain["source_id"] == source["id"]
        # Manual first (queued before the first poll is stable), then the RIS-urgent one, then rule
        # priority, then the oldest exam (brain 08:00 before chinese 09:00).
        assert _attempt_order(site, {k: u[k] for k in done}) == ["requested", "hinted", "brain", "chinese", "chest"]
        hinted_why = site.why(u["hinted"])
        assert hinted_why["pull"]["urgent"] and hinted_why["pull"]["rule_id"] == brain_rule["id"]
        assert [(h["body_part"], h["priority"]) for h in hinted_why["hints"]] == [("HEAD", "urgent")]
        assert any(e["kind"] == "hint" and "body part HEAD, priority urgent" in e["detail"]
                   for e in hinted_why["events"]), hinted_why["events"]

        why = site.why(u["knee"])
        assert why["summary"].startswith("rejected")
        rejected = [e["detail"] for e in why["events"] if e["kind"] == "rejected"]
        assert any("brain ASL" in d and "BodyPartExamined" in d and "KNEE" in d for d in rejected), rejected
        assert any("chest CT" in d and "ModalitiesInStudy" in d for d in rejected), rejected
        assert [e for e in why["events"] if e["kind"] == "seen"]
        # The rule test by study UID uses what the poll saw.
        test = site.http.post(f"/api/pull/rules/{brain_rule['id']}/test", json={"study_uid": u["knee"]})
        assert test.status_code == 200 and not test.json()["taken"]
        by_accession = site.http.get("/api/pull/why", params={"accession": "ACC" + u["knee"][-8:]})
        assert by_accession.json()["study_uid"] == u["knee"]
        queue = site.http.get("/api/pull/queue").json()["studies"]
        assert {s["study_uid"] for s in queue} >= set(u.values())
    finally:
        pacs.stop()


def test_stability_incomplete_and_mirror_failover(site: Site, tmp_path: Path) -> None:
    a = OrthancPACS(tmp_path / "a", "PACS_A", site.pull_port).start()
    b = OrthancPACS(tmp_path / "b", "PACS_B", site.pull_port).start()
    try:
        _add(site, "/api/pull/sources", a.source("mirror A", mirror_group="hospital"))
        source_b = _add(site, "/api/pull/sources", b.source("mirror B", mirror_group="hospital"))
        _add(site, "/api/pull/rules", {"name": "all MR", "study_filter": "ModalitiesInStudy=MR"})
        growing, short, mirrored = generate_uid(), generate_uid(), generate_uid()
        series = generate_uid()
        a.store(*[instance(growing, series, n) for n in (1, 2)])
        # One object of a SOP class the receiver does not take: the PACS cannot deliver it.
        a.store(*series_of(short, 2), instance(short, generate_uid(), 9, sop_class="1.2.826.0.1.3680043.9.9999.1"))
        mirrored_files = series_of(mirrored, 3)
        a.store(*mirrored_files)
        b.store(*mirrored_files)
        # Polls 5 s apart: time to stop mirror A between the poll that sees the study on it and the
        # poll that finds it stable (on B only, then).
        worker = site.pull(CIRRUS_PULL_POLL_SECONDS="5")
        try:
            wait_until(lambda: site.state(mirrored) == "queried", 60, "the mirrored study seen")
            assert site.why(mirrored)["pull"]["source_id"] != source_b["id"]
            a.stop()  # mirror A goes down before the mirrored study is stable
            wait_until(lambda: site.state(mirrored) == "complete", 90, "the mirrored study pulled from B")
            assert site.why(mirrored)["pull"]["source_id"] == source_b["id"], site.why(mirrored)["events"]
        finally:
            worker.stop()
        a.start()
        a.store(instance(growing, series, 3))
        worker = site.pull("pull2", CIRRUS_PULL_POLL_SECONDS="5")
        try:
            # Still arriving in the PACS: not pulled while the count changes between polls.
            wait_until(lambda: any("3 instance(s)" in e["detail"] for e in site.why(growing)["events"]), 60,
                       "the third instance seen")
            assert site.state(growing) == "queried"
            a.store(instance(growing, series, 4))
            wait_until(lambda: site.state(growing) == "complete", 90, "the grown study")
            wait_until(lambda: site.state(short) == "incomplete", 90, "the short study given up")
        finally:
            worker.stop()
        assert site.stored(growing) == 4
        grown = site.why(growing)["pull"]
        assert grown["expected_count"] == 4 and grown["attempts"] == 1
        incomplete = site.why(short)
        assert incomplete["pull"]["attempts"] == 2
        # Orthanc gives up the C-MOVE at the object it cannot deliver: what arrived is reported.
        stored = site.stored(short)
        assert stored < 3
        assert f"received {stored} of 3" in incomplete["pull"]["last_error"]
        assert incomplete["pull"]["received_count"] == stored
        # Each attempt also tries mirror B when nothing arrived from A (B does not have the study).
        attempts = [e["detail"] for e in incomplete["events"] if e["kind"] == "attempt"]
        assert {d.split(" on ")[0] for d in attempts} == {"attempt 1", "attempt 2"}, attempts
    finally:
        a.stop()
        b.stop()


def test_kill_during_pull_resumes_without_pulling_twice(site: Site, tmp_path: Path) -> None:
    pacs = OrthancPACS(tmp_path / "pacs", "PACS_A", site.pull_port).start()
    try:
        _add(site, "/api/pull/sources", pacs.source("main PACS"))
        _add(site, "/api/pull/rules", {"name": "all MR", "study_filter": "ModalitiesInStudy=MR"})
        small, big = generate_uid(), generate_uid()
        pacs.store(*series_of(small, 3, study_time="070000"))
        pacs.store(*series_of(big, 150, study_time="080000", size=64))
        worker = site.pull()
        wait_until(lambda: site.state(small) == "complete", 90, "the first study")
        wait_until(lambda: site.state(big) in ("pulling", "received") and 0 < site.stored(big), 90, "a pull under way")
        worker.kill()  # kill -9 mid-pull
        assert site.stored(big) < 150
        worker = site.pull("pull2")
        try:
            wait_until(lambda: site.state(big) == "complete", 120, "the resumed pull")
        finally:
            worker.stop()
        assert site.stored(big) == 150
        assert site.why(big)["pull"]["received_count"] == 150
        assert any(e["kind"] == "resumed" for e in site.why(big)["events"])
        # The study finished before the kill is not pulled again.
        assert len([e for e in site.why(small)["events"] if e["kind"] == "attempt"]) == 1
    finally:
        pacs.stop()


def _attempts(site: Site, study: str) -> list[str]:
    return [e["detail"] for e in site.why(study)["events"] if e["kind"] == "attempt"]


CT = "1.2.840.10008.5.1.4.1.1.2"


def test_c_get_and_repull_of_thinner_series(site: Site, tmp_path: Path) -> None:
    """C-GET as the source's retrieve method; a study taken before is pulled again when the PACS
    later gains a series the rule takes (a thinner reconstruction), and only that series is sent."""
    pacs = OrthancPACS(tmp_path / "pacs", "PACS_G", site.pull_port).start()
    try:
        _add(site, "/api/pull/sources", pacs.source("C-GET PACS", retrieve="get"))
        rule = _add(site, "/api/pull/rules", {"name": "thin chest CT", "study_filter": "ModalitiesInStudy=CT",
                                              "series_filter": "SliceThickness<=1.5", "repull_new_series": True})
        assert rule["repull_new_series"] is True
        study = generate_uid()
        thick = series_of(study, 2, modality="CT", sop_class=CT, SliceThickness="5")
        thin = series_of(study, 3, modality="CT", sop_class=CT, SliceThickness="1")
        pacs.store(*thick, *thin)
        worker = site.pull()
        try:
            wait_until(lambda: site.state(study) == "complete", 120, "the C-GET pull")
            assert site.stored(study) == 3
            first = _attempts(site, study)
            assert len(first) == 1 and "C-GET status 0x0000, 3 completed" in first[0], first
            # The PACS gains a thinner series (0.625 mm): only it is pulled.
            thinner = series_of(study, 4, modality="CT", sop_class=CT, SliceThickness="0.625")
            pacs.store(*thinner)
            wait_until(lambda: len(_attempts(site, study)) == 2 and site.state(study) == "complete", 120,
                       "the re-pull of the new series")
        finally:
            worker.stop()
        assert site.stored(study) == 7
        why = site.why(study)
        assert "C-GET status 0x0000, 4 completed" in _attempts(site, study)[1]
        assert why["pull"]["expected_count"] == why["pull"]["received_count"] == 4
        assert len(why["pull"]["series_uids"]) == 1
        assert any(e["kind"] == "selected" and "re-pulls 1 new series" in e["detail"] for e in why["events"])
        assert why["summary_code"] == "complete" and why["summary_params"] == {"count": "4"}
    finally:
        pacs.stop()


def test_failover_when_nothing_is_delivered_and_asynchronous_move(site: Site, tmp_path: Path) -> None:
    """Mirror A answers C-FIND but cannot deliver (its C-MOVE destination never answers: our move
    times out; then it refuses at once: nothing arrives): mirror B is tried in the same attempt.
    B runs each C-MOVE as a background job (Orthanc's ``SynchronousCMove`` false) and is set to
    ``async``: completion is judged by the counts of what the receiver took, not by the move's
    final response."""
    hole = Blackhole()
    a = OrthancPACS(tmp_path / "a", "PACS_A", hole.port, DicomScuTimeout=90).start()
    b = OrthancPACS(tmp_path / "b", "PACS_B", site.pull_port, SynchronousCMove=False).start()
    try:
        source_a = _add(site, "/api/pull/sources", a.source("mirror A", mirror_group="hospital"))
        source_b = _add(site, "/api/pull/sources", b.source("mirror B", mirror_group="hospital", move_mode="async"))
        assert source_b["move_mode"] == "async"
        _add(site, "/api/pull/rules", {"name": "all MR", "study_filter": "ModalitiesInStudy=MR"})
        hung, refused = generate_uid(), generate_uid()
        files = series_of(hung, 20, size=32, study_time="070000")
        a.store(*files)
        b.store(*files)
        worker = site.pull(CIRRUS_PULL_MOVE_TIMEOUT_SECONDS="6")
        try:
            wait_until(lambda: site.state(hung) == "complete", 150, "the study pulled from mirror B")
            hole.hang = False  # now A's destination refuses at once
            files = series_of(refused, 5, study_time="080000")
            a.store(*files)
            b.store(*files)
            wait_until(lambda: site.state(refused) == "complete", 150, "the second study pulled from mirror B")
        finally:
            worker.stop()
        for study, count in ((hung, 20), (refused, 5)):
            assert site.stored(study) == count
            pull = site.why(study)["pull"]
            assert pull["source_id"] == source_b["id"] and pull["attempts"] == 1
            assert pull["received_count"] == count
        first = _attempts(site, hung)
        assert len(first) == 2 and first[0].startswith("attempt 1 on mirror A failed"), first
        assert "C-MOVE (asynchronous)" in first[1] and "20 of 20 instance(s) stored" in first[1], first
        second = _attempts(site, refused)
        assert len(second) == 2 and "nothing arrived, trying mirror B" in second[0], second
        assert site.why(refused)["pull"]["source_id"] != source_a["id"]
    finally:
        a.stop()
        b.stop()
        hole.close()
