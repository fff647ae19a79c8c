"""Regional results as DICOM: a Segmentation of the atlas regions and a TID 1500 Measurement Report.

- SEG (PS3.3 A.51, highdicom): one BINARY segment per reported region on the CBF images' grid
  (regions overlap — a lobe holds its gyri — so a label map cannot hold them); empty frames
  are left out.
- Comprehensive 3D SR (PS3.16 TID 1500): one Volumetric ROI Measurements group (TID 1411) per
  reported region (panels, lobes, territories, hemispheres, cerebellum, grey matter), each
  referencing its segment, with the mean CBF (DCM 126390 "Absolute Regional Blood
  Flow"), the relative CBF (DCM 126397 "Relative Regional Blood Flow", ratio to the reference
  region), the mean ATT where fitted (DCM 126371 "Bolus Arrival Time") and, on the left and
  right regions, the asymmetry index (a Cirrus code: DICOM has none).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from quant.regions.analysis import RegionalAnalysis, RegionValue, asymmetry_index
from quant.regions.definitions import PANELS, REGIONS

__all__ = ["build_region_datasets", "CIRRUS_SCHEME"]

CIRRUS_SCHEME = "99CIRRUS"
SOFTWARE = "cirrus-quant 0.1"
ALGORITHM = hd.AlgorithmIdentificationSequence(
    name="Cirrus atlas regions (AAL3, MNI ICBM152 2009a)",
    family=codes.DCM.ImageProcessing,
    version=SOFTWARE,
)
UNIT_CBF = hd.sr.CodedConcept("ml/(100.g.min)", "UCUM", "ml/100g/min")
UNIT_RATIO = hd.sr.CodedConcept("{ratio}", "UCUM", "ratio")
UNIT_PERCENT = hd.sr.CodedConcept("%", "UCUM", "percent")
UNIT_SECOND = hd.sr.CodedConcept("s", "UCUM", "second")
ASYMMETRY = hd.sr.CodedConcept("ASYMMETRY-INDEX", CIRRUS_SCHEME, "Left-right asymmetry index, 200(L-R)/(L+R)")
ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure
BRAIN = codes.SCT.Brain
PANEL_BASES = frozenset(b for p in PANELS.values() for b in p.bases)


def _structure(v: RegionValue) -> hd.sr.CodedConcept:
    """The region's SNOMED CT structure where pydicom knows one, else a Cirrus code."""
    name = v.region.snomed
    code = getattr(codes.SCT, name, None) if name else None
    if code is not None:
        return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)
    return hd.sr.CodedConcept(v.region.base.upper()[:16], CIRRUS_SCHEME, v.region.name_en[:64])


def _laterality(v: RegionValue) -> hd.sr.CodedConcept | None:
    side = v.region.side
    if side == "L":
        return hd.sr.CodedConcept(codes.SCT.Left.value, "SCT", "Left")
    if side == "R":
        return hd.sr.CodedConcept(codes.SCT.Right.value, "SCT", "Right")
    return None


def _label(v: RegionValue) -> str:
    side = {"L": " left", "R": " right"}.get(v.region.side, "")
    return f"{v.region.name_en}{side}"[:64]


def _segmentation(
    analysis: RegionalAnalysis, sources: Sequence[pydicom.Dataset], series_number: int
) -> hd.seg.Segmentation:
    keys = [k for k in analysis.values if _reported(k)]
    for key, value in analysis.values.items():
        if key not in keys:
            value.segment = 0  # not in the SEG (its values are in the region CSV)
    stack = np.stack([analysis.masks[k] for k in keys], axis=-1)  # (slice, row, column, segment)
    descriptions = []
    for n, key in enumerate(keys, start=1):
        v = analysis.values[key]
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=n,
                segment_label=_label(v),
                segmented_property_category=ANATOMICAL_STRUCTURE,
                segmented_property_type=_structure(v),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=ALGORITHM,
                tracking_uid=generate_uid(),
                tracking_id=key,
            )
        )
        v.segment = n
    rows, columns = stack.shape[1:3]
    # Native BINARY packs bits across frames: unless a frame holds a multiple of 8 pixels, frames
    # do not start on a byte, which frame-level byte-range retrieval cannot serve. Those grids
    # get a FRACTIONAL (occupancy 0/1, 8-bit) segmentation in RLE Lossless, one fragment a frame.
    aligned = (rows * columns) % 8 == 0
    seg = hd.seg.Segmentation(
        source_images=list(sources),
        pixel_array=stack if aligned else stack.astype(np.float32),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY if aligned else hd.seg.SegmentationTypeValues.FRACTIONAL,
        fractional_type=hd.seg.SegmentationFractionalTypeValues.OCCUPANCY,
        max_fractional_value=1,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Cirrus",
        manufacturer_model_name="cirrus-quant",
        software_versions=SOFTWARE,
        device_serial_number="0",
        content_description="Atlas regions in ASL space",
        content_label="REGIONS",
        omit_empty_frames=True,
        transfer_syntax_uid=ExplicitVRLittleEndian if aligned else RLELossless,
    )
    seg.SeriesDescription = "ASL atlas regions (AAL3)"
    return seg


def _measurements(analysis: RegionalAnalysis, v: RegionValue) -> list[hd.sr.Measurement]:
    out = []
    if v.cbf_mean is not None:
        out.append(hd.sr.Measurement(
            name=codes.DCM.AbsoluteRegionalBloodFlow, value=v.cbf_mean, unit=UNIT_CBF, derivation=codes.SCT.Mean,
        ))
    if v.relative is not None:
        out.append(hd.sr.Measurement(
            name=codes.DCM.RelativeRegionalBloodFlow, value=v.relative, unit=UNIT_RATIO, derivation=codes.SCT.Mean,
        ))
    if v.att_mean is not None:
        out.append(hd.sr.Measurement(
            name=codes.DCM.BolusArrivalTime, value=v.att_mean, unit=UNIT_SECOND, derivation=codes.SCT.Mean,
        ))
    if v.region.side:
        other = analysis.values.get(v.region.key[:-1] + ("R" if v.region.side == "L" else "L"))
        pair = (v, other) if v.region.side == "L" else (other, v)
        ai = asymmetry_index(
            pair[0].cbf_mean if pair[0] else None, pair[1].cbf_mean if pair[1] else None
        )
        if ai is not None:
            out.append(hd.sr.Measurement(name=ASYMMETRY, value=ai, unit=UNIT_PERCENT))
    return out


def _reported(key: str) -> bool:
    """Regions the SR carries (highdicom builds ~0.1 s of content per group): panels, lobes,
    territories, hemispheres, cerebellum and grey matter (the CSV holds every region)."""
    region = REGIONS.get(key)
    if region is None:
        return key == "grey_matter"
    return region.group in ("lobe", "territory", "hemisphere", "cerebellum") or region.base in PANEL_BASES


def build_region_datasets(
    analysis: RegionalAnalysis, cbf_images: Sequence[pydicom.Dataset], series_number: int
) -> list[pydicom.Dataset]:
    """[SEG, SR] for ``analysis`` on the grid of ``cbf_images`` (the CBF MR series, one per slice)."""
    if not analysis.values:
        return []
    with warnings.catch_warnings():
        # highdicom flags single-component patient names; we copy the source's name unchanged.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        seg = _segmentation(analysis, cbf_images, series_number)
        groups = []
        source_series = hd.sr.SourceSeriesForSegmentation(str(cbf_images[0].SeriesInstanceUID))
        for key, v in analysis.values.items():
            if not _reported(key):
                continue
            measurements = _measurements(analysis, v)
            if not measurements:
                continue
            groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=key),
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=v.segment,
                    source_series=source_series,
                ),
                finding_type=BRAIN,
                finding_sites=[hd.sr.FindingSite(_structure(v), laterality=_laterality(v))],
                measurements=measurements,
            ))
        observer = hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=generate_uid(), name="cirrus-quant", manufacturer_name="Cirrus", model_name=SOFTWARE,
            ),
        )
        report = hd.sr.MeasurementReport(
            observation_context=hd.sr.ObservationContext(observer_device_context=observer),
            procedure_reported=codes.DCM.PerfusionAnalysisByArterialSpinLabelingMRTechnique,
            imaging_measurements=groups,
        )
        sr = hd.sr.Comprehensive3DSR(
            evidence=[seg],
            content=report,
            series_instance_uid=generate_uid(),
            series_number=series_number + 1,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer="Cirrus",
            is_complete=True,
        )
    sr.SeriesDescription = f"ASL regional CBF (reference: {analysis.reference})"
    return [seg, sr]
