"""The approved report as DICOM: a Comprehensive SR following TID 2000 and an Encapsulated PDF.

No I/O: the caller passes the study's reference header (patient and study attributes), the headers
of the key images and the previous approved version's SR (Predecessor Documents), and stores what
comes back through the ingest service.

TID 2000 (Basic Diagnostic Imaging Report, PS3.16): the root container (LN 18748-4) with the
observer context, a Findings section (DCM 121070) holding the findings text (DCM 121071), the
structured fields, the numbers as NUM items with UCUM units and the key images as IMAGE items, and
an Impressions section (DCM 121072) holding the impression text (DCM 121073). Completion and
verification flags (PS3.3 C.17.2): COMPLETE, VERIFIED with the reviewer as verifying observer.
"""

from __future__ import annotations

import copy
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import highdicom as hd
import pydicom
from PIL import Image as PILImage
from pydicom.dataset import Dataset
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from server.workflow.reports import ENCAPSULATED_PDF_STORAGE, PATIENT_STUDY_KEYWORDS, report_font

CIRRUS_SCHEME = "99CIRRUS"
REPORT_TITLE = hd.sr.CodedConcept("18748-4", "LN", "Diagnostic Imaging Report")
FINDINGS = hd.sr.CodedConcept("121070", "DCM", "Findings")
FINDING = hd.sr.CodedConcept("121071", "DCM", "Finding")
IMPRESSIONS = hd.sr.CodedConcept("121072", "DCM", "Impressions")
IMPRESSION = hd.sr.CodedConcept("121073", "DCM", "Impression")
KEY_IMAGE = hd.sr.CodedConcept("121180", "DCM", "Key Images")
OBSERVER_NAME = hd.sr.CodedConcept("121008", "DCM", "Person Observer Name")
OBSERVER_TYPE = hd.sr.CodedConcept("121005", "DCM", "Observer Type")
PERSON = hd.sr.CodedConcept("121006", "DCM", "Person")
TYPE2_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                       "ReferringPhysicianName", "StudyID", "AccessionNumber")
SR_SERIES_NUMBER = 980
PDF_SERIES_NUMBER = 981


@dataclass(frozen=True)
class ReportDocument:
    """Everything printed and encoded of one approved version."""

    request_number: str
    version: int
    hospital: str
    reading_hospital: str
    patient_name: str
    patient_id: str
    patient_sex: str
    patient_age: str
    examination: str
    modality: str
    clinical_history: str
    findings: str
    impression: str
    fields: dict[str, str]
    measurements: list[dict[str, Any]]
    key_images: list[dict[str, Any]]
    reporter: str
    reviewer: str
    signed_at: datetime
    language: str = "zh-CN"
    captures: dict[str, bytes] = field(default_factory=dict)  # SHA-256 → the key images' viewport PNGs
    logo: bytes = b""  # the reading hospital's logo (PNG or JPEG), printed in the header
    share: PrintedShare | None = None  # the patient's share link: QR code and access code


@dataclass(frozen=True)
class PrintedShare:
    """A share link as printed: its URL as a QR code (PNG), the access code and when it expires."""

    url: str
    qr_png: bytes
    code: str
    expires: str


def _slug(name: str) -> str:
    """A local code value (SH, 16 characters) for a measurement's name: the name itself when it fits, else
    its start and a short digest, so that two long names never share a code (e.g. left and right regions)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").upper() or "VALUE"
    if len(slug) <= 16:
        return slug
    return f"{slug[:11].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:4].upper()}"


def _person(name: str) -> str:
    # A person name as DICOM PN: the display name as the family name component (the caret says so).
    return (name.replace("^", " ").strip()[:62] or "Unknown") + "^"


def content_tree(doc: ReportDocument, key_image_headers: dict[str, Dataset]) -> hd.sr.ContainerContentItem:
    root = hd.sr.ContainerContentItem(name=REPORT_TITLE, template_id="2000")
    items: list[Any] = [
        hd.sr.CodeContentItem(OBSERVER_TYPE, PERSON, relationship_type=hd.sr.RelationshipTypeValues.HAS_OBS_CONTEXT),
        hd.sr.PnameContentItem(OBSERVER_NAME, _person(doc.reporter),
                               relationship_type=hd.sr.RelationshipTypeValues.HAS_OBS_CONTEXT),
    ]
    contains = hd.sr.RelationshipTypeValues.CONTAINS
    findings = hd.sr.ContainerContentItem(name=FINDINGS, relationship_type=contains)
    section: list[Any] = []
    if doc.findings.strip():
        section.append(hd.sr.TextContentItem(FINDING, doc.findings, relationship_type=contains))
    for name, text in doc.fields.items():
        if text.strip():
            section.append(hd.sr.TextContentItem(FINDING, f"{name}: {text}", relationship_type=contains))
    for m in doc.measurements:
        unit = hd.sr.CodedConcept(m["unit"], "UCUM", m.get("unit_label") or m["unit"])
        section.append(hd.sr.NumContentItem(hd.sr.CodedConcept(_slug(m["name"]), CIRRUS_SCHEME, m["name"][:64]),
                                            value=m["value"], unit=unit, relationship_type=contains))
    for k in doc.key_images:
        header = key_image_headers.get(k["sop_instance_uid"])
        if header is None:
            continue
        frames = [k["frame"]] if int(getattr(header, "NumberOfFrames", 1) or 1) > 1 else None
        section.append(hd.sr.ImageContentItem(KEY_IMAGE, referenced_sop_class_uid=header.SOPClassUID,
                                              referenced_sop_instance_uid=header.SOPInstanceUID,
                                              referenced_frame_numbers=frames, relationship_type=contains))
    if section:
        findings.ContentSequence = section
        items.append(findings)
    impressions = hd.sr.ContainerContentItem(name=IMPRESSIONS, relationship_type=contains)
    impressions.ContentSequence = [hd.sr.TextContentItem(IMPRESSION, doc.impression or "-", relationship_type=contains)]
    items.append(impressions)
    root.ContentSequence = items
    return root


def build_sr(
    doc: ReportDocument,
    reference: Dataset,
    key_image_headers: dict[str, Dataset],
    *,
    series_uid: str,
    sop_uid: str,
    previous: list[Dataset],
) -> Dataset:
    """The version's Comprehensive SR; ``previous`` are the earlier approved versions (Predecessor Documents)."""
    ref = copy.deepcopy(reference)
    for kw in TYPE2_PATIENT_STUDY:  # highdicom copies these from the first evidence item
        if kw not in ref:
            setattr(ref, kw, "")
    evidence = [ref, *(h for uid, h in key_image_headers.items() if uid != ref.SOPInstanceUID)]
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=content_tree(doc, key_image_headers),
        series_instance_uid=series_uid,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=doc.version,
        manufacturer="Cirrus",
        is_complete=True,
        is_final=True,
        is_verified=True,
        institution_name=doc.reading_hospital[:64] or None,
        verifying_observer_name=_person(doc.reviewer),
        verifying_organization=(doc.reading_hospital or "Cirrus")[:64],
        previous_versions=previous or None,
        record_evidence=True,
    )
    sr.SeriesDescription = "Diagnostic report"
    sr.SpecificCharacterSet = "ISO_IR 192"
    when = doc.signed_at
    sr.ContentDate = when.strftime("%Y%m%d")
    sr.ContentTime = when.strftime("%H%M%S")
    # The verifying observer signed at approval time (highdicom stamps the build time).
    sr.VerifyingObserverSequence[0].VerificationDateTime = when.strftime("%Y%m%d%H%M%S")
    return sr


LABELS = {
    "zh-CN": {"title": "影像诊断报告", "number": "诊断号", "patient": "姓名", "pid": "患者ID", "sex": "性别",
              "age": "年龄", "exam": "检查项目", "history": "临床病史", "findings": "检查所见",
              "impression": "诊断意见",
              "measurements": "定量结果", "key_images": "关键图像", "reporter": "报告医生", "reviewer": "审核医生",
              "signed": "审核时间", "version": "版本", "requesting": "申请医院", "reading": "诊断医院",
              "share": "扫码查看报告与影像", "code": "访问码", "expires": "有效期至"},
    "en": {"title": "Diagnostic imaging report", "number": "Diagnosis no.", "patient": "Name", "pid": "Patient ID",
           "sex": "Sex", "age": "Age", "exam": "Examination", "history": "Clinical history", "findings": "Findings",
           "impression": "Impression", "measurements": "Quantitative results", "key_images": "Key images",
           "reporter": "Reporting doctor", "reviewer": "Reviewing doctor", "signed": "Approved at",
           "version": "Version", "requesting": "Requesting hospital", "reading": "Reading hospital",
           "share": "Scan to see the report and images", "code": "Access code", "expires": "Valid until"},
}


def _paragraphs(text: str, style: ParagraphStyle) -> list[Paragraph]:
    return [Paragraph(escape(line) or "&nbsp;", style) for line in (text or "-").splitlines()]


def _key_image(png: bytes, width: float) -> Image:
    w, h = PILImage.open(io.BytesIO(png)).size
    scale = min(width / w, width / h)  # a square box: tall captures do not run off the page
    return Image(io.BytesIO(png), width=w * scale, height=h * scale)


def _logo(data: bytes, height: float) -> Image:
    w, h = PILImage.open(io.BytesIO(data)).size
    scale = min(height / h, 40 * mm / w)
    return Image(io.BytesIO(data), width=w * scale, height=h * scale)


def _header(doc: ReportDocument, title: Paragraph) -> Any:
    """The hospital's name, with its logo on the left when it has one."""
    if not doc.logo:
        return title
    grid = Table([[_logo(doc.logo, 16 * mm), title, ""]], colWidths=[42 * mm, 88 * mm, 42 * mm])
    grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    return grid


def _share_block(share: PrintedShare, t: dict[str, str], body: ParagraphStyle) -> Table:
    text = [Paragraph(escape(t["share"]), body),
            Paragraph(f"{escape(t['code'])}: <b>{escape(share.code)}</b>", body),
            Paragraph(escape(share.url), body),
            Paragraph(f"{escape(t['expires'])}: {escape(share.expires)}", body)]
    grid = Table([[Image(io.BytesIO(share.qr_png), width=32 * mm, height=32 * mm), text]],
                 colWidths=[38 * mm, 134 * mm])
    grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                              ("LINEABOVE", (0, 0), (-1, 0), 0.4, colors.grey, None, (2, 2))]))
    return grid


def build_pdf(doc: ReportDocument) -> bytes:
    """The printed report: A4, hospital header, patient block, findings, impression, numbers, signatures."""
    t = LABELS.get(doc.language, LABELS["zh-CN"])
    font = report_font()
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14)
    head = ParagraphStyle("head", parent=body, fontSize=16, leading=20, alignment=1)
    sub = ParagraphStyle("sub", parent=body, fontSize=12, leading=16, alignment=1, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    out = io.BytesIO()
    pdf = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"{t['title']} {doc.request_number}", author=doc.reviewer)
    story: list[Any] = [_header(doc, Paragraph(escape(doc.reading_hospital or doc.hospital), head)),
                        Paragraph(t["title"], sub)]
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=12)

    def c(text: str) -> Paragraph:
        return Paragraph(escape(text), cell)

    patient = [
        [c(t["patient"]), c(doc.patient_name.replace("^", " ")), c(t["pid"]), c(doc.patient_id)],
        [c(t["sex"]), c(doc.patient_sex), c(t["age"]), c(doc.patient_age)],
        [c(t["number"]), c(doc.request_number), c(t["exam"]), c(f"{doc.modality} {doc.examination}".strip())],
        [c(t["requesting"]), c(doc.hospital), c(t["reading"]), c(doc.reading_hospital)],
    ]
    table = Table(patient, colWidths=[28 * mm, 58 * mm, 28 * mm, 58 * mm])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                               ("BACKGROUND", (2, 0), (2, -1), colors.whitesmoke)]))
    story += [table, Spacer(1, 4 * mm)]
    if doc.clinical_history.strip():
        story += [Paragraph(t["history"], h2), *_paragraphs(doc.clinical_history, body)]
    story += [Paragraph(t["findings"], h2), *_paragraphs(doc.findings, body)]
    for name, text in doc.fields.items():
        if text.strip():
            story.append(Paragraph(f"<b>{escape(name)}</b>: {escape(text)}", body))
    if doc.measurements:
        rows = [[c(m["name"]), c(f"{m['value']:.4g}"), c(m.get("unit_label") or m["unit"]), c(m.get("source", ""))]
                for m in doc.measurements]
        mt = Table(rows, colWidths=[60 * mm, 25 * mm, 30 * mm, 57 * mm])
        mt.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.lightgrey)]))
        story += [Paragraph(t["measurements"], h2), mt]
    if doc.key_images:
        story += [Paragraph(t["key_images"], h2)]
        cells: list[Any] = []
        for k in doc.key_images:
            wl = f" W/L {k['window_width']:g}/{k['window_center']:g}" if k.get("window_width") is not None and \
                k.get("window_center") is not None else ""
            caption = Paragraph(escape(f"{k.get('label') or k['sop_instance_uid']} (frame {k['frame']}){wl}"), cell)
            png = doc.captures.get(str(k.get("capture") or ""))
            cells.append([_key_image(png, 80 * mm), caption] if png else [caption])
        rows = [cells[i:i + 2] for i in range(0, len(cells), 2)]
        rows[-1] += [[]] * (2 - len(rows[-1]))
        grid = Table(rows, colWidths=[86 * mm, 86 * mm])
        grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(grid)
    story += [Paragraph(t["impression"], h2), *_paragraphs(doc.impression, body), Spacer(1, 8 * mm)]
    sign = Table([[c(f"{t['reporter']}: {doc.reporter}"), c(f"{t['reviewer']}: {doc.reviewer}")],
                  [c(f"{t['signed']}: {doc.signed_at:%Y-%m-%d %H:%M}"), c(f"{t['version']}: {doc.version}")]],
                 colWidths=[86 * mm, 86 * mm])
    story.append(sign)
    if doc.share is not None:
        story += [Spacer(1, 6 * mm), _share_block(doc.share, t, body)]
    pdf.build(story)
    return out.getvalue()


def encapsulated_pdf(pdf: bytes, reference: Dataset, doc: ReportDocument, *, series_uid: str, sop_uid: str
                     ) -> Dataset:
    ds = Dataset()
    for kw in PATIENT_STUDY_KEYWORDS:
        if kw in reference:
            setattr(ds, kw, reference.data_element(kw).value)
    for kw in TYPE2_PATIENT_STUDY:
        if kw not in ds:
            setattr(ds, kw, "")
    ds.StudyInstanceUID = reference.StudyInstanceUID
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = PDF_SERIES_NUMBER
    ds.SeriesDescription = "Diagnostic report (PDF)"
    ds.InstanceNumber = doc.version
    ds.ConversionType = "WSD"
    ds.Manufacturer = "Cirrus"
    ds.ContentDate = doc.signed_at.strftime("%Y%m%d")
    ds.ContentTime = doc.signed_at.strftime("%H%M%S")
    ds.AcquisitionDateTime = doc.signed_at.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = f"Diagnostic report {doc.request_number} v{doc.version}"
    ds.ConceptNameCodeSequence = [REPORT_TITLE]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENCAPSULATED_PDF_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds
