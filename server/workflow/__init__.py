"""Analysis workflow: ASL recognised on arrival, queued, computed by workers, results back in the study.

Modules, in the order data flows through them:

- ``detector``: ingest listener + quiet-period loop; classifies a settled study and opens one
  job per ASL acquisition (``analysis_watch`` rows make it restart-safe and multi-process);
  ``evaluate_now`` for uploads, which need no quiet period.
- ``states``: the job state machine as a table of transitions, the only authority on job state;
  ``jobs``: the actions a person takes; ``queue``: claim (``FOR UPDATE SKIP LOCKED`` / SQLite
  write lock), heartbeat, lease expiry, finish.
- ``worker``: runs a claimed job; results and the Encapsulated PDF go back through ingest with
  UIDs derived from (job, version), so retries never duplicate.
- ``background``: starts the detector and workers (from the app's lifespan or ``cirrus worker``).
- ``quant_bridge``: the one seam to ``quant``; ``study_loader``: stored instances read back as
  data sets; ``reports``: CSV, figures, PDF, Encapsulated PDF; ``openapi``: ``/api`` described.

The tables are in ``server.db.analysis``.
"""
