"""Regional results as derived DICOM: SEG of the regions + TID 1500 SR referencing it, read back."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from quant import build_derived_datasets, quantify
from server.commands.quant_inputs import acquisition_from_bids
from server.services.atlases import default_atlas
from tests.quant.conftest import asl_niftis


def reread(ds: pydicom.Dataset) -> pydicom.Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


@pytest.fixture(scope="module")
def derived(dro_dir):
    acq = acquisition_from_bids(asl_niftis(dro_dir("E")))
    result = quantify(acq, regions=default_atlas().load())
    return result, build_derived_datasets(result, acq)


def test_seg_holds_every_region_on_the_cbf_grid(derived) -> None:
    result, datasets = derived
    cbf = [d for d in datasets if d.Modality == "MR" and "CBF" in d.ImageType]
    seg = hd.seg.Segmentation.from_dataset(reread(next(d for d in datasets if d.Modality == "SEG")))
    in_seg = [v for v in result.regions.values.values() if v.segment]
    assert seg.number_of_segments == len(in_seg) > 40
    assert sorted(v.segment for v in in_seg) == list(range(1, len(in_seg) + 1))
    assert result.regions.values["rolandic_operculum_L"].segment == 0  # in no panel: CSV only
    assert str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID) == str(cbf[0].SeriesInstanceUID)
    assert seg.StudyInstanceUID == cbf[0].StudyInstanceUID and seg.FrameOfReferenceUID == cbf[0].FrameOfReferenceUID
    value = result.regions.values["precuneus_L"]
    description = seg.get_segment_description(value.segment)
    assert description.segment_label == "Precuneus left"
    assert description.tracking_id == "precuneus_L"
    # The segment's voxels are the region's mask, slice by slice in the source order.
    sop_order = [str(d.SOPInstanceUID) for d in cbf]
    volume = seg.get_pixels_by_source_instance(
        sop_order, segment_numbers=[value.segment], ignore_spatial_locations=True
    )
    assert np.array_equal(volume[..., 0].astype(bool), result.regions.masks["precuneus_L"])


def test_sr_measurement_groups_reference_their_segments(derived) -> None:
    result, datasets = derived
    seg_ds = next(d for d in datasets if d.Modality == "SEG")
    sr = hd.sr.Comprehensive3DSR.from_dataset(reread(next(d for d in datasets if d.Modality == "SR")))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    groups = sr.content.get_volumetric_roi_measurement_groups()
    by_key = {g.tracking_identifier: g for g in groups}
    assert {"cerebellum", "mca_territory_L", "precuneus_R", "frontal_lobe_L", "grey_matter"} <= set(by_key)
    for key in ("mca_territory_L", "precuneus_R"):
        group = by_key[key]
        ref = group.referenced_segment
        assert ref.referenced_sop_instance_uid == seg_ds.SOPInstanceUID
        assert ref.referenced_segment_numbers == [result.regions.values[key].segment]
        cbf = group.get_measurements(name=codes.DCM.AbsoluteRegionalBloodFlow)[0]
        assert cbf.value == pytest.approx(result.regions.values[key].cbf_mean, rel=1e-6)
        assert cbf.unit.value == "ml/(100.g.min)"
        att = group.get_measurements(name=codes.DCM.BolusArrivalTime)[0]
        assert att.value == pytest.approx(result.regions.values[key].att_mean, rel=1e-6)
        (ai,) = [m for m in group.get_measurements() if m.name.value == "ASYMMETRY-INDEX"]
        assert ai.name.scheme_designator == "99CIRRUS" and ai.unit.value == "%"
        rel = group.get_measurements(name=codes.DCM.RelativeRegionalBloodFlow)[0]
        assert rel.value == pytest.approx(result.regions.values[key].relative, rel=1e-6)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == seg_ds.SOPInstanceUID


def test_derived_objects_are_valid_without_regions(dro_dir) -> None:
    acq = acquisition_from_bids(asl_niftis(dro_dir("D")))
    kinds = {d.Modality for d in build_derived_datasets(quantify(acq, model="consensus"), acq)}
    assert "SEG" not in kinds and "SR" not in kinds
