"""Viewer measurements kept with the study as a DICOM SR (TID 1500 Measurement Report).

``report`` parses the viewer's JSON into typed measurements and builds the SR (no I/O);
``service`` checks the caller may see the study and the images, and stores the SR through the
ingest service, so every DICOMweb client (the viewer itself on reload, OHIF) reads it back.
"""
