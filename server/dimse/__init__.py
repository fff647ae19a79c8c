"""DIMSE: the DICOM upper-layer SCP (`cirrus dimse`) over the same services as DICOMweb."""
