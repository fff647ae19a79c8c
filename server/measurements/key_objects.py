"""A key image marked in the viewer's toolbar: a Key Object Selection document in the study (no I/O).

PS3.3 A.35.4 / TID 2010: the document title "Of Interest" (DCM 113000), the observer, an optional
description (the doctor's note) and the referenced image (with its frame for a multi-frame image).
Every mark is one new instance of the study's key-object series, so every DICOMweb client and OHIF
(its KO handler) sees the study's key images; a reading report's captures (``server/reading/key_images.py``)
stay with the report.
"""

from __future__ import annotations

import copy
from datetime import datetime

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from server.measurements.report import _person
from server.reading.documents import TYPE2_PATIENT_STUDY

SERIES_NUMBER = 991
SERIES_DESCRIPTION = "Key images"
OF_INTEREST = codes.DCM.OfInterest


def build_key_object(image: Dataset, frame: int, *, series_uid: str, sop_uid: str, instance_number: int,
                     observer: str, note: str, when: datetime) -> Dataset:
    """The KOS referencing ``image`` (its header: SOP class and instance, patient and study)."""
    ref = copy.deepcopy(image)
    for kw in TYPE2_PATIENT_STUDY:  # highdicom copies these from the evidence
        if kw not in ref:
            setattr(ref, kw, "")
    if int(getattr(ref, "NumberOfFrames", 1) or 1) > 1:
        ref.ReferencedFrameNumber = frame  # highdicom's IMAGE item names the frame when the dataset says which
    observer_context = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=_person(observer)),
    )
    content = hd.ko.KeyObjectSelection(document_title=OF_INTEREST, referenced_objects=[ref],
                                       observer_person_context=observer_context, description=note[:1024] or None)
    ko = hd.ko.KeyObjectSelectionDocument(evidence=[ref], content=content, series_instance_uid=series_uid,
                                          series_number=SERIES_NUMBER, sop_instance_uid=sop_uid,
                                          instance_number=instance_number, manufacturer="Cirrus")
    ko.SeriesDescription = SERIES_DESCRIPTION
    ko.SpecificCharacterSet = "ISO_IR 192"
    ko.ContentDate = when.strftime("%Y%m%d")
    ko.ContentTime = when.strftime("%H%M%S.%f")
    return ko
