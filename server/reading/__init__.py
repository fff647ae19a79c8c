"""Reading workflow across hospitals: requests, worklists, the report editor, reports stored as DICOM."""
