"""Analysis workflow: ASL recognised on arrival, queued, computed by workers, results back in the study.

Modules, in the order data flows through them:

- ``detector``: ingest listener + quiet-period loop; classifies a settled study and opens one
  job per ASL acquisition (``analysis_watch`` rows make it restart-safe and multi-process).
- ``intake``: uploads (ZIP/files, ``cirrus ingest``) stored through ingest, then detected at once.
- ``states``: the job state machine as a table of transitions; ``jobs``: the actions a person takes.
- ``queue``: claim (``FOR UPDATE SKIP LOCKED`` / SQLite write lock), heartbeat, lease expiry.
- ``worker``: runs a claimed job; results and the Encapsulated PDF go back through ingest with
  UIDs derived from (job, version), so retries never duplicate; ``runtime`` starts the loops.
- ``engine``: the one seam to ``quant``; ``reports``: CSV, figures, PDF, Encapsulated PDF.
- ``inputs``: stored instances read back as datasets; ``models``: the tables; ``openapi``: ``/api`` described.
"""
