"""Patient share links: one study (or series) opened read-only by a URL and an access code.

- ``codes``: public ids, access codes (argon2id-hashed, shown once) and ``shr_`` bearer tokens
  (SHA-256 digests stored).
- ``service``: staff of the owning institution create, list and revoke links; the patient
  exchanges the code for a token (30 min, never past the link's expiry). Wrong codes are counted
  per link and per client address (``throttle``): the 5th in 15 minutes locks for 15 minutes.
- ``tokens``: what a token opens (``ShareAccess``) and ``ShareResolver``, one of the
  authentication middleware's resolvers, giving ``Principal(method=SHARE, role=READ_ONLY,
  scopes={read}, share_id, share_study_uid)``.
- ``guard`` + ``middleware``: after authentication, a share principal reaches only GET/HEAD of
  its study's DICOMweb resources (its series for a series share), WADO-URI of them, and its page
  API; retrieve of DICOM objects, raw frames and bulk data only when the link allows downloads.
- ``patient``: the share page's view (series, approved report text, report PDFs).

The tenant rule of the services' SQL must keep holding a share principal to exactly
``share_study_uid`` (``server.auth.visibility`` does); the guard adds the series and download limits
and the 404 for everything outside the study, so the two layers do not depend on each other.
"""
