"""States of a study in PACS pull (``PullStudy.state``).

queried (selected by a rule, waiting to be stable) → stable (queued) → pulling → received
(retrieve done, waiting to be quiet) → complete | incomplete (short after the bounded attempts) |
failed (no source answered); back to stable when short and attempts remain. ``rejected``: no rule
takes it (the decision log says why); ``requested``: a manual "pull this study now", queued first.
"""

from __future__ import annotations

from enum import StrEnum


class PullState(StrEnum):
    QUERIED = "queried"
    STABLE = "stable"
    REQUESTED = "requested"
    PULLING = "pulling"
    RECEIVED = "received"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    REJECTED = "rejected"


# Being retrieved: a poll leaves these alone.
ACTIVE = frozenset({PullState.PULLING, PullState.RECEIVED})
# Judged again by a poll when what the source shows changes.
QUEUED = frozenset({PullState.QUERIED, PullState.STABLE, PullState.REJECTED})
