"""The SCU side of PACS pull (pynetdicom, blocking: run it in a thread): C-FIND, C-MOVE, C-GET.

Study Root Query/Retrieve (PS3.4 C.6.2). Identifiers ask for UTF-8 answers (SpecificCharacterSet
ISO_IR 192), so what the PACS decoded is what we match; a PACS that decoded bytes with the wrong
character set shows mis-encoded text, which the keyword variants of the rules match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

STUDY_RETURN_KEYS = ("StudyDate", "StudyTime", "AccessionNumber", "PatientID", "StudyDescription",
                     "ModalitiesInStudy", "NumberOfStudyRelatedInstances", "NumberOfStudyRelatedSeries",
                     "InstitutionName", "ReferringPhysicianName")
SERIES_RETURN_KEYS = ("Modality", "SeriesNumber", "BodyPartExamined", "ProtocolName", "SeriesDescription",
                      "ImageType", "SliceThickness", "ConvolutionKernel", "NumberOfSeriesRelatedInstances")
PENDING = (0xFF00, 0xFF01)
# A retrieve's final status when every sub-operation succeeded, or some with warnings/failures (B000).
SUCCESS = (0x0000, 0xB000)
# A C-GET association proposes storage contexts for what a PACS typically sends (at most 128
# contexts per association, PS3.8 §9.3.2.2; one is the C-GET model).
GET_STORAGE = StoragePresentationContexts[:120]


class SourceUnavailable(Exception):
    """The source did not accept an association (down, refused, wrong AE title)."""


class RetrieveFailed(Exception):
    pass


@dataclass(frozen=True)
class Endpoint:
    ae_title: str
    host: str
    port: int
    local_ae: str
    timeout: float = 30.0


@dataclass(frozen=True)
class RetrieveResult:
    status: int
    completed: int
    failed: int
    warning: int


def _ae(endpoint: Endpoint) -> AE:
    ae = AE(ae_title=endpoint.local_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = endpoint.timeout
    ae.connection_timeout = min(endpoint.timeout, 10.0)
    return ae


def _associate(ae: AE, endpoint: Endpoint, **kwargs: Any) -> Any:
    assoc = ae.associate(endpoint.host, endpoint.port, ae_title=endpoint.ae_title, **kwargs)
    if not assoc.is_established:
        raise SourceUnavailable(f"{endpoint.ae_title} at {endpoint.host}:{endpoint.port} did not accept an "
                                "association")
    return assoc


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    return str(value)


def _answer(identifier: Dataset, keys: Iterable[str]) -> dict[str, Any]:
    out = {k: _plain(identifier.get(k)) for k in keys}
    for count in ("NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances"):
        if count in out:
            try:
                out[count] = int(out[count] or 0)
            except ValueError:
                out[count] = 0
    for uid in ("StudyInstanceUID", "SeriesInstanceUID"):
        if uid in identifier:
            out[uid] = str(identifier.get(uid) or "")
    return out


def _find(endpoint: Endpoint, query: Dataset, keys: Sequence[str]) -> list[dict[str, Any]]:
    ae = _ae(endpoint)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = _associate(ae, endpoint)
    answers = []
    try:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            code = int(getattr(status, "Status", 0xC000)) if status else 0xC000
            if code in PENDING and identifier is not None:
                answers.append(_answer(identifier, keys))
            elif code not in PENDING and code != 0:
                raise RetrieveFailed(f"C-FIND answered status 0x{code:04X}")
    finally:
        assoc.release()
    return answers


def _query(level: str, keys: Iterable[str], **match: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = level
    for key in keys:
        setattr(ds, key, "")
    ds.StudyInstanceUID = ""
    for key, value in match.items():
        setattr(ds, key, value)
    return ds


def find_studies(endpoint: Endpoint, dates: Sequence[date] = (), **match: str) -> list[dict[str, Any]]:
    """Study-level C-FIND: the studies of ``dates`` (a range from the first to the last), or as
    matched by ``match`` (e.g. ``StudyInstanceUID=...``, ``AccessionNumber=...``)."""
    if dates:
        match.setdefault("StudyDate", f"{min(dates):%Y%m%d}-{max(dates):%Y%m%d}")
    return _find(endpoint, _query("STUDY", STUDY_RETURN_KEYS, **match), STUDY_RETURN_KEYS)


def find_series(endpoint: Endpoint, study_uid: str) -> list[dict[str, Any]]:
    query = _query("SERIES", SERIES_RETURN_KEYS, StudyInstanceUID=study_uid)
    query.SeriesInstanceUID = ""
    return _find(endpoint, query, SERIES_RETURN_KEYS)


def _retrieve_identifier(study_uid: str, series_uids: Sequence[str]) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = study_uid
    if series_uids:
        ds.QueryRetrieveLevel = "SERIES"
        ds.SeriesInstanceUID = list(series_uids) if len(series_uids) > 1 else series_uids[0]
    else:
        ds.QueryRetrieveLevel = "STUDY"
    return ds


def _result(responses: Iterable[tuple[Any, Any]]) -> RetrieveResult:
    last = None
    for status, _identifier in responses:
        if status:
            last = status
    if last is None:
        raise RetrieveFailed("the retrieve ended without a final response (association lost)")
    code = int(last.Status)
    return RetrieveResult(code, int(last.get("NumberOfCompletedSuboperations", 0) or 0),
                          int(last.get("NumberOfFailedSuboperations", 0) or 0),
                          int(last.get("NumberOfWarningSuboperations", 0) or 0))


def move(endpoint: Endpoint, study_uid: str, series_uids: Sequence[str], destination: str) -> RetrieveResult:
    """Synchronous C-MOVE of the study (or those of its series) to ``destination``: returns when
    the PACS reports every sub-operation done."""
    ae = _ae(endpoint)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = _associate(ae, endpoint)
    try:
        return _result(assoc.send_c_move(_retrieve_identifier(study_uid, series_uids), destination,
                                         StudyRootQueryRetrieveInformationModelMove))
    finally:
        assoc.release()


def get(endpoint: Endpoint, study_uid: str, series_uids: Sequence[str],
        on_store: Callable[[evt.Event], int]) -> RetrieveResult:
    """C-GET: the PACS sends the instances back on this association, to ``on_store``."""
    ae = _ae(endpoint)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for cx in GET_STORAGE:
        ae.add_requested_context(cx.abstract_syntax)
        roles.append(build_role(cx.abstract_syntax, scp_role=True))
    assoc = _associate(ae, endpoint, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        return _result(assoc.send_c_get(_retrieve_identifier(study_uid, series_uids),
                                        StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
