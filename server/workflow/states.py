"""Analysis job states and transitions, written as data: the only authority on job state.

Every change of a job's state that the code performs is a named transition here: the states it
is allowed from and the state it leads to. Services and the queue look transitions up (the SQL
they build takes its ``WHERE state IN (...)`` and its new state from the table); nothing else
decides whether an action is legal. ``tests/server/workflow/test_states.py`` checks that every
transition is performed somewhere and that no code writes a job state on its own.

    waiting ──set parameters (complete)──▶ queued ──claim──▶ running ──succeed──▶ succeeded
       ▲                                     ▲  ▲              │   └──fail──▶ failed
       │                                     │  └──release/reap┘   (reap: failed when out of attempts)
       └──────── back to waiting ────────────┼───────────────────┘
    any non-terminal ──cancel──▶ cancelled;  succeeded/failed/cancelled ──rerun──▶ queued|waiting
    succeeded/failed/cancelled ──set parameters──▶ queued|waiting (runs again with the edited values)
    new input instances ──reevaluate──▶ queued|waiting
    detection of the study fails ──detection_fail──▶ detection_failed ──retry_detection / a later
    detection succeeds (detection_recovered)──▶ removed (the study's acquisitions get their own jobs)

Superseding is not a job state change: when a run succeeds, the job's older result versions are
flagged superseded (``worker.supersede_older``) and the viewer shows only the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.app_errors import StateConflict


class JobState(StrEnum):
    WAITING = "waiting"  # a parameter or input series is missing; ``missing`` names it
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Not an acquisition: the study's detection failed (``reason`` says why); one row per study,
    # removed once a detection of the study succeeds. Its button retries the detection.
    DETECTION_FAILED = "detection_failed"


ACTIVE_STATES = frozenset({JobState.WAITING, JobState.QUEUED, JobState.RUNNING})
FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[JobState]
    # ``None`` means the target depends on whether parameters are missing (waiting when some are,
    # queued when none are); ``targets`` lists every state the action can lead to.
    target: JobState | None
    # True when a person may trigger it over the API (the UI shows these as buttons).
    manual: bool
    targets: frozenset[JobState] | None = None

    @property
    def source_values(self) -> list[str]:
        return sorted(s.value for s in self.sources)

    def leads_to(self) -> frozenset[JobState]:
        if self.targets is not None:
            return self.targets
        return frozenset({self.target}) if self.target else frozenset({JobState.WAITING, JobState.QUEUED})


S = JobState
_NOT_RUNNING = frozenset({S.WAITING, S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELLED, S.DETECTION_FAILED})
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        # A detector opens a job for a newly found acquisition.
        Transition("detect", frozenset(), None, manual=False),
        # Also after a run: the job runs again with the edited values (a preset's value changed for
        # this study only), its new result superseding the old one.
        Transition("set_parameters", frozenset({S.WAITING, S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELLED}), None,
                   manual=True),
        Transition("start", frozenset({S.WAITING, S.QUEUED}), S.QUEUED, manual=True),
        Transition("claim", frozenset({S.QUEUED}), S.RUNNING, manual=False),
        Transition("succeed", frozenset({S.RUNNING}), S.SUCCEEDED, manual=False),
        Transition("fail", frozenset({S.RUNNING}), S.FAILED, manual=False),
        # A worker shutting down cleanly gives its job back.
        Transition("release", frozenset({S.RUNNING}), S.QUEUED, manual=False),
        # A lost lease puts the job back in the queue, or fails it once its attempts are used.
        Transition("reap", frozenset({S.RUNNING}), None, manual=False, targets=frozenset({S.QUEUED, S.FAILED})),
        # The run found a parameter or an input series missing: the job waits for it.
        Transition("back_to_waiting", frozenset({S.RUNNING}), S.WAITING, manual=False),
        Transition("cancel", frozenset({S.WAITING, S.QUEUED, S.RUNNING}), S.CANCELLED, manual=True),
        Transition("rerun", frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED}), None, manual=True),
        # New instances arrived for the job's series: analyse again (a running attempt on the old
        # inputs is abandoned; its worker notices at its next heartbeat).
        Transition(
            "reevaluate", frozenset({S.SUCCEEDED, S.FAILED, S.WAITING, S.QUEUED, S.RUNNING}), None, manual=False
        ),
        # Detection of a study failed (a locked database, an unreadable header): its failure row is
        # opened, or updated while the detector keeps retrying; always allowed, like ``detect``.
        Transition("detection_fail", frozenset(), S.DETECTION_FAILED, manual=False),
        # A person asks for the detection again; on success the failure row is removed.
        Transition("retry_detection", frozenset({S.DETECTION_FAILED}), None, manual=True, targets=frozenset()),
        # A later detection of the study (the detector's retry, an upload, "analyse") succeeded.
        Transition("detection_recovered", frozenset({S.DETECTION_FAILED}), None, manual=False,
                   targets=frozenset()),
        # Removes the job (no target state); its derived series stay in the study.
        Transition("delete", _NOT_RUNNING, None, manual=True, targets=frozenset()),
    )
}

class TransitionError(StateConflict):
    """An action is not allowed from the job's current state (409 naming the state)."""

    def __init__(self, action: str, state: str) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[action].sources)) if action in TRANSITIONS else "none"
        super().__init__(f"cannot {action.replace('_', ' ')} a job that is {state} (allowed from: {allowed})", state)
        self.action = action
        self.state = state


def transition(action: str) -> Transition:
    return TRANSITIONS[action]


def allowed(action: str, state: str) -> bool:
    return JobState(state) in TRANSITIONS[action].sources


def check(action: str, state: str) -> None:
    if not allowed(action, state):
        raise TransitionError(action, state)


def target_state(action: str, state: str, missing: list[str]) -> JobState:
    """The state ``action`` leads to from ``state``; raises TransitionError if not allowed."""
    t = TRANSITIONS[action]
    if t.sources and JobState(state) not in t.sources:
        raise TransitionError(action, state)
    if t.target is not None:
        return t.target
    return JobState.WAITING if missing else JobState.QUEUED


def actions_for(state: str) -> list[str]:
    """Actions a person may take on a job in ``state`` (the UI shows these buttons)."""
    js = JobState(state)
    return [t.action for t in TRANSITIONS.values() if t.manual and js in t.sources]
