"""Analysis job states and transitions, written as data.

Each action a person (or the system) may take names the states it is allowed
from and the state it leads to. Services look transitions up here; nothing
else decides whether an action is legal.

    waiting ──set parameters (complete)──▶ queued ──claim──▶ running ──▶ succeeded
       ▲                                     ▲  ▲              │   └──▶ failed
       └──────────── set parameters ─────────┘  └─lease lost───┘
    any non-terminal ──cancel──▶ cancelled;  succeeded/failed/cancelled ──rerun──▶ queued|waiting
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JobState(StrEnum):
    WAITING = "waiting"  # a parameter could not be read; ``missing`` names it
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATES = frozenset({JobState.WAITING, JobState.QUEUED, JobState.RUNNING})
FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[JobState]
    # ``None`` means the target depends on whether parameters are missing
    # (waiting when some are, queued when none are).
    target: JobState | None
    # True when a person may trigger it over the API.
    manual: bool


S = JobState
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("detect", frozenset(), None, manual=False),
        Transition("set_parameters", frozenset({S.WAITING, S.QUEUED}), None, manual=True),
        Transition("start", frozenset({S.WAITING, S.QUEUED}), S.QUEUED, manual=True),
        Transition("claim", frozenset({S.QUEUED}), S.RUNNING, manual=False),
        Transition("succeed", frozenset({S.RUNNING}), S.SUCCEEDED, manual=False),
        Transition("fail", frozenset({S.RUNNING}), S.FAILED, manual=False),
        # A lost lease puts the job back in the queue (or fails it once its attempts are used).
        Transition("requeue", frozenset({S.RUNNING}), S.QUEUED, manual=False),
        Transition("cancel", frozenset({S.WAITING, S.QUEUED, S.RUNNING}), S.CANCELLED, manual=True),
        Transition("rerun", frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED}), None, manual=True),
        # New instances arrived for the job's series: analyse again (a running
        # attempt on the old inputs is abandoned; its worker notices at its next heartbeat).
        Transition(
            "reevaluate", frozenset({S.SUCCEEDED, S.FAILED, S.WAITING, S.QUEUED, S.RUNNING}), None, manual=False
        ),
        Transition("delete", frozenset({S.WAITING, S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELLED}), None,
                   manual=True),
    )
}


class TransitionError(Exception):
    """An action is not allowed from the job's current state."""

    def __init__(self, action: str, state: str) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[action].sources)) if action in TRANSITIONS else "none"
        super().__init__(f"cannot {action.replace('_', ' ')} a job that is {state} (allowed from: {allowed})")
        self.action = action
        self.state = state


def allowed(action: str, state: str) -> bool:
    return JobState(state) in TRANSITIONS[action].sources


def check(action: str, state: str) -> None:
    if not allowed(action, state):
        raise TransitionError(action, state)


def target_state(action: str, state: str, missing: list[str]) -> JobState:
    """The state ``action`` leads to from ``state``; raises TransitionError if not allowed."""
    transition = TRANSITIONS[action]
    if transition.sources and JobState(state) not in transition.sources:
        raise TransitionError(action, state)
    if transition.target is not None:
        return transition.target
    return JobState.WAITING if missing else JobState.QUEUED


def actions_for(state: str) -> list[str]:
    """Actions a person may take on a job in ``state`` (the UI shows these buttons)."""
    js = JobState(state)
    return [t.action for t in TRANSITIONS.values() if t.manual and js in t.sources]
