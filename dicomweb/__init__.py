"""DICOMweb (PS3.18) as a pure library: no I/O, no HTTP framework, no SQL."""
