"""Audit records as DICOM PS3.15 Annex A.5 audit messages (IHE ATNA), for a hospital's audit repository.

Each record becomes one ``AuditMessage`` (EventIdentification, ActiveParticipant for the requestor
and for this server, AuditSourceIdentification, ParticipantObjectIdentification for the patient and
the study); an export wraps them in one ``AuditMessages`` element.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree import ElementTree as ET

from server.db.audit import AuditAction, AuditOutcome, AuditRecord
from server.db.database import aware

# EventID (DICOM CID 400) and EventActionCode (C, R, U, D, E) by action.
EVENTS: dict[str, tuple[str, str, str]] = {
    AuditAction.QUERY: ("110112", "Query", "E"),
    AuditAction.VIEW: ("110103", "DICOM Instances Accessed", "R"),
    AuditAction.DOWNLOAD: ("110104", "DICOM Instances Transferred", "R"),
    AuditAction.UPLOAD: ("110104", "DICOM Instances Transferred", "C"),
    AuditAction.SHARE: ("110106", "Export", "R"),
    AuditAction.CHANGE: ("110110", "Patient Record", "U"),
    AuditAction.DELETE: ("110105", "DICOM Study Deleted", "D"),
    AuditAction.LOGIN: ("110114", "User Authentication", "E"),
    AuditAction.LOGOUT: ("110114", "User Authentication", "E"),
    AuditAction.FAILED_LOGIN: ("110114", "User Authentication", "E"),
    AuditAction.ADMIN: ("110136", "Security Roles Changed", "U"),
}
# EventTypeCode of the authentication events (DICOM CID 401).
LOGIN_TYPES = {AuditAction.LOGIN: ("110122", "Login"), AuditAction.FAILED_LOGIN: ("110122", "Login"),
               AuditAction.LOGOUT: ("110123", "Logout")}
# EventOutcomeIndicator: 0 success, 4 minor failure, 8 serious failure, 12 major failure.
OUTCOMES = {AuditOutcome.SUCCESS: "0", AuditOutcome.NOT_FOUND: "4", AuditOutcome.REFUSED: "4",
            AuditOutcome.DENIED: "8", AuditOutcome.ERROR: "12"}


def _code(parent: ET.Element, tag: str, code: str, system: str, text: str) -> ET.Element:
    return ET.SubElement(parent, tag, {"csd-code": code, "codeSystemName": system, "originalText": text})


def audit_message(r: AuditRecord, source_id: str, server_address: str = "") -> ET.Element:
    code, meaning, action_code = EVENTS.get(r.action, ("110110", "Patient Record", "E"))
    msg = ET.Element("AuditMessage")
    event = ET.SubElement(msg, "EventIdentification", {
        "EventActionCode": action_code,
        "EventDateTime": aware(r.at).isoformat(),
        "EventOutcomeIndicator": OUTCOMES.get(r.outcome, "4"),  # type: ignore[call-overload]
    })
    _code(event, "EventID", code, "DCM", meaning)
    if r.action in LOGIN_TYPES:
        type_code, type_text = LOGIN_TYPES[r.action]  # type: ignore[index]
        _code(event, "EventTypeCode", type_code, "DCM", type_text)
    if r.outcome != AuditOutcome.SUCCESS or r.detail:
        ET.SubElement(event, "EventOutcomeDescription").text = (r.detail or f"HTTP {r.status}")[:512]

    requestor = {"UserID": r.actor or "anonymous", "UserIsRequestor": "true"}
    if r.actor_user_id is not None:
        requestor["AlternativeUserID"] = str(r.actor_user_id)
    if r.auth_method:
        requestor["UserName"] = f"{r.actor or 'anonymous'} ({r.auth_method})"
    if r.client_address:
        requestor["NetworkAccessPointID"] = r.client_address
        requestor["NetworkAccessPointTypeCode"] = "2"  # IP address
    person = ET.SubElement(msg, "ActiveParticipant", requestor)
    if r.action == AuditAction.UPLOAD:
        _code(person, "RoleIDCode", "110153", "DCM", "Source Role ID")
    elif r.action in (AuditAction.VIEW, AuditAction.DOWNLOAD, AuditAction.QUERY):
        _code(person, "RoleIDCode", "110152", "DCM", "Destination Role ID")

    server = {"UserID": source_id, "UserIsRequestor": "false"}
    if server_address:
        server["NetworkAccessPointID"] = server_address
        server["NetworkAccessPointTypeCode"] = "1"  # machine name
    app = ET.SubElement(msg, "ActiveParticipant", server)
    _code(app, "RoleIDCode", "110150", "DCM", "Application")

    source = ET.SubElement(msg, "AuditSourceIdentification", {"AuditSourceID": source_id})
    ET.SubElement(source, "AuditSourceTypeCode", {"csd-code": "4", "codeSystemName": "DCM",
                                                  "originalText": "Application Server Process"})

    if r.patient_id:
        patient = ET.SubElement(msg, "ParticipantObjectIdentification", {
            "ParticipantObjectID": r.patient_id, "ParticipantObjectTypeCode": "1",
            "ParticipantObjectTypeCodeRole": "1"})
        _code(patient, "ParticipantObjectIDTypeCode", "2", "RFC-3881", "Patient Number")
    if r.study_uid:
        study = ET.SubElement(msg, "ParticipantObjectIdentification", {
            "ParticipantObjectID": r.study_uid, "ParticipantObjectTypeCode": "2",
            "ParticipantObjectTypeCodeRole": "3"})
        _code(study, "ParticipantObjectIDTypeCode", "110180", "DCM", "Study Instance UID")
    return msg


def to_xml(rows: Iterable[AuditRecord], source_id: str, server_address: str = "") -> bytes:
    root = ET.Element("AuditMessages")
    for r in rows:
        root.append(audit_message(r, source_id, server_address))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
