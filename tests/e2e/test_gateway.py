"""`cirrus gateway` as a real process: DCMTK storescu is the modality, a real `cirrus serve` the cloud.

What the gateway acknowledges to the modality must reach the cloud exactly once: while the
cloud is down (it arrives when the cloud comes up), across a kill -9 of the gateway in the
middle of a STOW-RS request, and across a kill -9 while the modality is still sending.
Checked through the cloud's QIDO-RS (counts) and WADO-RS (bytes).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from tests.auth_helpers import bearer, provision_token
from tests.conftest import LiveServer, live_server_env
from tests.e2e.dimse_helpers import cirrus, dataset_bytes, make_ca, require_dcmtk, retrieve_instance, signed_cert
from tests.processes import ROOT, CirrusProcess


def make_study(folder: Path, count: int, series: int = 2) -> dict[str, Path]:
    """``count`` small CT images of one new study in ``series`` series; SOP Instance UID -> file."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    # storescu does not send trailing padding; without it the data set goes through byte for byte.
    if "DataSetTrailingPadding" in template:
        del template.DataSetTrailingPadding
    study = generate_uid()
    series_uids = [generate_uid() for _ in range(series)]
    files: dict[str, Path] = {}
    for n in range(count):
        ds = template.copy()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series_uids[n % series]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = n + 1
        path = folder / f"{n:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files[str(ds.SOPInstanceUID)] = path
    return files


class Gateway(CirrusProcess):
    """``cirrus gateway`` on a free port with its own spool; restartable on the same spool."""

    def __init__(self, env: dict[str, str], spool: Path, log: Path) -> None:
        super().__init__({**env, "CIRRUS_GATEWAY_SPOOL_DIR": str(spool)}, log)
        self.spool = spool

    def start(self, **extra: str) -> Gateway:
        self.listen(["gateway", "--port", str(self.port), "--host", "127.0.0.1"], env={**self.env, **extra})
        return self

    def kill(self) -> None:
        assert self.proc is not None
        super().kill()

    def store(self, files: list[Path], calling: str = "MODALITY") -> subprocess.CompletedProcess[str]:
        return subprocess.run(["storescu", "-aet", calling, "-aec", "CIRRUSGW", "127.0.0.1", str(self.port),
                               *map(str, files)], capture_output=True, text=True, timeout=120)

    def status(self) -> tuple[dict[str, int], str]:
        done = cirrus(self.env, "gateway", "status")
        assert done.returncode == 0, done.stderr
        counts = {k: int(v) for k, v in re.findall(r"(queued|sent|failed)=(\d+)", done.stdout)}
        return counts, done.stdout

    def wait_for(self, ready: Callable[[dict[str, int]], bool], timeout: float = 40) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            counts, text = self.status()
            if ready(counts):
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway status not reached: {text}\n{self.output()}")
            time.sleep(0.2)

    def spooled_files(self) -> list[Path]:
        return list((self.spool / "objects").iterdir())


class Cloud:
    """The Cirrus cloud the gateway forwards to; ``token`` is the gateway's (stow scope, also reads)."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.token = token
        self.http = httpx.Client(base_url=server.url, timeout=60, headers=bearer(token))

    def instances(self, study: str) -> list[dict]:
        r = self.http.get(f"/dicom-web/studies/{study}/instances")
        assert r.status_code == 200, r.text
        return r.json()

    def instance_bytes(self, study: str, series: str, sop: str) -> bytes:
        return retrieve_instance(self.http, study, series, sop)


@pytest.fixture
def cloud_env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    require_dcmtk()
    data = tmp_path / "cloud"
    data.mkdir()
    return live_server_env(sqlite_url, data)


@pytest.fixture
def cloud(cloud_env: dict[str, str]) -> Iterator[Cloud]:
    data = Path(cloud_env["CIRRUS_DATA_DIR"])
    # The gateway's account exists before the cloud first starts (the gateway may start first).
    token = provision_token(cloud_env["CIRRUS_DATABASE_URL"], data, "gateway")
    made = Cloud(LiveServer(cloud_env, data), token)  # started by the test
    try:
        yield made
    finally:
        made.http.close()
        made.server.stop()


def gateway_env(cloud: Cloud, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRRUS_")}  # no database, no data dir
    env.update({
        "PYTHONPATH": str(ROOT),
        "CIRRUS_GATEWAY_TARGET_URL": cloud.server.dicomweb_url,
        "CIRRUS_GATEWAY_TOKEN": cloud.token,
        "CIRRUS_GATEWAY_ALLOWED_AES": "MODALITY,OTHER",
        "CIRRUS_GATEWAY_FORWARD_RULES": "ae=MODALITY modality=CT",
        "CIRRUS_GATEWAY_SETTLE_SECONDS": "0.3",
        "CIRRUS_GATEWAY_RETRY_INITIAL_SECONDS": "0.2",
        "CIRRUS_GATEWAY_RETRY_MAX_SECONDS": "1",
        "CIRRUS_GATEWAY_BATCH_SIZE": "4",
    })
    env.update(extra)
    return env


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Gateway]]:
    made: list[Gateway] = []

    def make(env: dict[str, str]) -> Gateway:
        gateway = Gateway(env, tmp_path / "spool", tmp_path / "gateway.log")
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.stop()


def assert_arrived_once(cloud: Cloud, files: dict[str, Path]) -> None:
    first = pydicom.dcmread(next(iter(files.values())), stop_before_pixels=True)
    found = cloud.instances(str(first.StudyInstanceUID))
    uids = [item["00080018"]["Value"][0] for item in found]
    assert sorted(uids) == sorted(files), "every instance exactly once"
    for sop, path in files.items():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        stored = cloud.instance_bytes(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), sop)
        assert dataset_bytes(stored) == dataset_bytes(path.read_bytes()), path.name


def test_forwards_while_cloud_down_then_arrives_once(
    cloud: Cloud, gateway_factory: Callable[[dict[str, str]], Gateway], tmp_path: Path
) -> None:
    gateway = gateway_factory(gateway_env(cloud)).start()
    study_a = make_study(tmp_path / "a", 9)
    study_b = make_study(tmp_path / "b", 3, series=1)

    # The cloud is not running: the modality's C-STOREs still succeed (the objects are spooled).
    sent = gateway.store([*study_a.values(), *study_b.values()])
    assert sent.returncode == 0, sent.stderr + gateway.output()
    counts = gateway.wait_for(lambda c: c.get("queued") == 12)
    assert counts == {"queued": 12, "sent": 0, "failed": 0}
    _, text = gateway.status()
    assert "link down" in text
    assert len(gateway.spooled_files()) == 12

    # An AE not in the allow-list is rejected at association.
    refused = gateway.store([next(iter(study_a.values()))], calling="STRANGER")
    assert refused.returncode != 0

    # An allowed caller no forwarding rule names: acknowledged, recorded as skipped, not forwarded.
    other = make_study(tmp_path / "other", 1, series=1)
    assert gateway.store(list(other.values()), calling="OTHER").returncode == 0
    _, text = gateway.status()
    assert "skipped=1" in text and "no forwarding rule matches (calling AE OTHER" in text, text

    # The cloud comes up: everything arrives, once, byte for byte; the spool empties.
    cloud.server.start()
    gateway.wait_for(lambda c: c.get("sent") == 12)
    assert_arrived_once(cloud, study_a)
    assert_arrived_once(cloud, study_b)
    assert gateway.spooled_files() == []

    # The modality sends study B again: identical objects are not sent twice.
    again = gateway.store(list(study_b.values()))
    assert again.returncode == 0, again.stderr
    assert gateway.status()[0] == {"queued": 0, "sent": 12, "failed": 0}
    assert gateway.spooled_files() == []

    # A permanent refusal: another object under a SOP Instance UID the cloud already holds.
    sop, path = next(iter(study_a.items()))
    ds = pydicom.dcmread(path)
    ds.PatientName = "Other^Patient"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed, enforce_file_format=True)
    conflict = gateway.store([changed])
    assert conflict.returncode == 0, conflict.stderr
    gateway.wait_for(lambda c: c.get("failed") == 1)
    _, text = gateway.status()
    assert "0111H" in text, text
    assert len(cloud.instances(str(ds.StudyInstanceUID))) == 9
    study_other = pydicom.dcmread(next(iter(other.values())), stop_before_pixels=True).StudyInstanceUID
    assert cloud.instances(str(study_other)) == []
    assert_arrived_once(cloud, study_a)  # the stored object is untouched


def test_kill_gateway_mid_transfer_loses_and_duplicates_nothing(
    cloud: Cloud, gateway_factory: Callable[[dict[str, str]], Gateway], tmp_path: Path
) -> None:
    cloud.server.start()
    # Paced uploads (≈ 40 KiB objects at 48 KiB/s, about 17 s for all) so a STOW-RS request is in
    # flight when killed; the window between 4 sent and 8 still queued lasts several seconds, so the
    # status polls (a process each, slow on a loaded machine) cannot miss it.
    env = gateway_env(cloud, CIRRUS_GATEWAY_BANDWIDTH_KBPS="48")
    gateway = gateway_factory(env).start()
    study = make_study(tmp_path / "study", 20)
    sent = gateway.store(list(study.values()))
    assert sent.returncode == 0, sent.stderr + gateway.output()
    gateway.wait_for(lambda c: 4 <= c.get("sent", 0) and c.get("queued", 0) >= 8)
    gateway.kill()
    before, _ = gateway.status()
    assert before["sent"] + before["queued"] == 20

    gateway.start(CIRRUS_GATEWAY_BANDWIDTH_KBPS="0")
    gateway.wait_for(lambda c: c.get("sent") == 20)
    assert gateway.status()[0] == {"queued": 0, "sent": 20, "failed": 0}
    assert_arrived_once(cloud, study)
    assert gateway.spooled_files() == []


def _acknowledged(storescu_log: str) -> list[str]:
    """Files storescu (-v) got a success response for, in order."""
    acked, current = [], None
    for line in storescu_log.splitlines():
        if "Sending file:" in line:
            current = line.split("Sending file:", 1)[1].strip()
        elif "Received Store Response (Success)" in line and current:
            acked.append(current)
            current = None
    return acked


def test_kill_gateway_while_the_modality_sends_keeps_what_was_acknowledged(
    cloud: Cloud, gateway_factory: Callable[[dict[str, str]], Gateway], tmp_path: Path
) -> None:
    gateway = gateway_factory(gateway_env(cloud)).start()  # the cloud is down meanwhile
    study = make_study(tmp_path / "study", 60)
    by_path = {str(path): sop for sop, path in study.items()}
    log = tmp_path / "storescu.log"
    with open(log, "wb") as out:
        sender = subprocess.Popen(["storescu", "-v", "-aet", "MODALITY", "-aec", "CIRRUSGW", "127.0.0.1",
                                   str(gateway.port), *by_path], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while len(gateway.spooled_files()) < 10 and time.monotonic() < deadline and sender.poll() is None:
        time.sleep(0.01)
    gateway.kill()
    sender.wait(30)
    acked = [by_path[p] for p in _acknowledged(log.read_text(errors="replace"))]
    assert 5 <= len(acked) < 60, "killed while the modality was sending"

    gateway.start()
    cloud.server.start()
    gateway.wait_for(lambda c: c.get("queued") == 0 and c.get("sent", 0) >= len(acked))
    counts, _ = gateway.status()
    assert counts["failed"] == 0
    arrived = {item["00080018"]["Value"][0] for item in cloud.instances(
        str(pydicom.dcmread(next(iter(study.values())), stop_before_pixels=True).StudyInstanceUID))}
    assert set(acked) <= arrived, "everything acknowledged reached the cloud"
    # At most the one object committed but not yet answered when the gateway died is extra.
    assert len(arrived) - len(acked) <= 1 and len(arrived) == counts["sent"]
    assert_arrived_once(cloud, {sop: study[sop] for sop in arrived})
    assert gateway.spooled_files() == []


def test_a_gateway_with_a_wrong_token_is_refused_by_the_cloud(
    cloud: Cloud, gateway_factory: Callable[[dict[str, str]], Gateway], tmp_path: Path
) -> None:
    cloud.server.start()
    gateway = gateway_factory(gateway_env(cloud, CIRRUS_GATEWAY_TOKEN="cirrus_not-the-gateways-token")).start()
    study = make_study(tmp_path / "a", 2, series=1)
    assert gateway.store(list(study.values())).returncode == 0  # the modality's C-STOREs succeed
    counts = gateway.wait_for(lambda c: c.get("failed") == 2)
    assert counts["sent"] == 0
    _, text = gateway.status()
    assert "401" in text, text
    first = pydicom.dcmread(next(iter(study.values())), stop_before_pixels=True)
    found = cloud.http.get("/dicom-web/studies", params={"StudyInstanceUID": str(first.StudyInstanceUID)})
    assert found.status_code == 204 or found.json() == [], found.text  # nothing was stored


def test_gateway_local_scp_over_mutual_tls(
    cloud: Cloud, gateway_factory: Callable[[dict[str, str]], Gateway], tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    ca = make_ca(certs, "hospital-ca")
    key, cert = signed_cert(certs, "gateway", ca)
    client_key, client_cert = signed_cert(certs, "modality", ca)
    cloud.server.start()
    gateway = gateway_factory(gateway_env(cloud, CIRRUS_DIMSE_TLS_CERTFILE=str(cert), CIRRUS_DIMSE_TLS_KEYFILE=str(key),
                                          CIRRUS_DIMSE_TLS_CAFILE=str(ca[1]))).start()
    study = make_study(tmp_path / "a", 2, series=1)
    files = [str(p) for p in study.values()]
    plain = gateway.store(list(study.values()))
    assert plain.returncode != 0  # plain TCP on the TLS port: no association
    sent = subprocess.run(["storescu", "-aet", "MODALITY", "-aec", "CIRRUSGW", "+tls", str(client_key),
                           str(client_cert), "+cf", str(ca[1]), "127.0.0.1", str(gateway.port), *files],
                          capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr + gateway.output()
    gateway.wait_for(lambda c: c.get("sent") == 2)
    assert_arrived_once(cloud, study)
