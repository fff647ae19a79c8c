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


# The "why not" sentence: a code and its parameters (the UI words it in its language), and the
# English wording the API returns beside them.
SUMMARIES = {
    "unseen": "no source poll has seen this study (not in any query window, or no source has it)",
    "rejected": "rejected: {reason}",
    "rejected_no_rule": "rejected: no rule takes it",
    "incomplete": "incomplete: {error}",
    "complete": "complete: {count} instance(s) pulled",
    "waiting": "waiting until its instance count is stable across two polls",
    "state": "{state}",
    "state_error": "{state}: {error}",
}
