"""The Unified Procedure Step state machine as data (PS3.4 CC.1.1, Tables CC.1.1-1 and CC.1.1-2).

Every row of the transition table is one entry of :data:`TABLE`, keyed by
(event, current state, whether the right Transaction UID came with it); the
current state ``None`` is "no such workitem". :func:`decide` looks the answer up:
the DIMSE status (Table CC.2.1-2 and CC.2.5-4), the new state, whether to record
the Transaction UID (the lock), and which events subscribers get, in order.

The Transaction UID is "correct" when it equals the workitem's Locking UID; a
workitem that has none yet (SCHEDULED) takes any UID offered with a claim. A
request without any Transaction UID is never correct. The returned Workitem
never shows the Transaction UID (PS3.18 §11.5.3.2): see
:func:`dicomweb.ups.workitem.without_lock`.

:func:`http_status` maps a decision to the UPS-RS answer (PS3.18 §11.7.3.1):
success 200 (warnings B304/B306 too, with a Warning header), no workitem 404,
a missing Transaction UID or a request for SCHEDULED 400, and every other
refusal — wrong UID, illegal transition, final state requirements unmet — 409
with a message naming the current state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

__all__ = [
    "STATUS",
    "TABLE",
    "Decision",
    "Event",
    "State",
    "Status",
    "decide",
    "http_status",
    "parse_state",
]


class State(StrEnum):
    """Procedure Step State (0074,1000) values (Table CC.1.1-1)."""

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"

    @property
    def final(self) -> bool:
        return self in (State.COMPLETED, State.CANCELED)


class Event(Enum):
    """The rows of Table CC.1.1-2."""

    CREATE = "N-CREATE"
    CLAIM = "change state to IN PROGRESS"
    SCHEDULE = "change state to SCHEDULED"
    COMPLETE = "change state to COMPLETED"
    CANCEL = "change state to CANCELED"
    REQUEST_CANCEL = "request cancel"


@dataclass(frozen=True)
class Status:
    code: int
    kind: str  # "success" | "warning" | "failure"
    meaning: str


# Status codes of Tables CC.2.1-2 (Change UPS State), CC.2.2-? (Request Cancel), CC.2.5-4 (N-CREATE).
STATUS: dict[int, Status] = {s.code: s for s in (
    Status(0x0000, "success", "The requested state change was performed"),
    Status(0x0111, "failure", "Failed: a workitem with this SOP Instance UID already exists"),
    Status(0xB304, "warning", "The UPS is already in the requested state of CANCELED"),
    Status(0xB306, "warning", "The UPS is already in the requested state of COMPLETED"),
    Status(0xC300, "failure", "Failed: The UPS may no longer be updated"),
    Status(0xC301, "failure", "Failed: The correct Transaction UID was not provided"),
    Status(0xC302, "failure", "Failed: The UPS is already IN PROGRESS"),
    Status(0xC303, "failure", "Failed: The UPS may only become SCHEDULED via N-CREATE, not N-SET or N-ACTION"),
    Status(0xC304, "failure", "Failed: The UPS has not met final state requirements for the requested state change"),
    Status(0xC307, "failure", "Failed: Specified SOP Instance UID does not exist or is not a UPS Instance managed "
                              "by this SCP"),
    Status(0xC309, "failure", 'Failed: The provided value of UPS State was not "SCHEDULED"'),
    Status(0xC310, "failure", 'Failed: The UPS is not yet in the "IN PROGRESS" state'),
    Status(0xC311, "failure", "Failed: The UPS is already COMPLETED"),
)}


@dataclass(frozen=True)
class Decision:
    """What to do for one event.

    ``new_state`` None leaves the state unchanged. ``reports`` are the UPS State Report events
    to send, in order (a cancel request on a SCHEDULED workitem reports IN PROGRESS, then
    CANCELED); ``cancel_requested`` sends a UPS Cancel Requested event instead (the SCP is not
    the performer of an IN PROGRESS workitem). ``needs_final_state`` marks the transitions that
    are allowed only when the Final State requirements hold (:func:`decide` turns an unmet one
    into C304).
    """

    status: Status
    new_state: State | None = None
    record_uid: bool = False
    reports: tuple[State, ...] = ()
    cancel_requested: bool = False
    needs_final_state: bool = False

    @property
    def ok(self) -> bool:
        return self.status.kind != "failure"


def _s(code: int) -> Decision:
    return Decision(STATUS[code])


_OK = STATUS[0x0000]
S, P, C, X = State.SCHEDULED, State.IN_PROGRESS, State.COMPLETED, State.CANCELED
_STATES: tuple[State | None, ...] = (None, S, P, C, X)

# (event, current state, correct Transaction UID) -> decision; Table CC.1.1-2 column by column
# (no workitem, SCHEDULED, IN PROGRESS, COMPLETED, CANCELED).
TABLE: dict[tuple[Event, State | None, bool], Decision] = {}


def _row(event: Event, uid_ok: bool | None, *cells: Decision) -> None:
    for state, cell in zip(_STATES, cells, strict=True):
        for flag in ((True, False) if uid_ok is None else (uid_ok,)):
            TABLE[(event, state, flag)] = cell


_row(Event.CREATE, None, Decision(_OK, new_state=S, reports=(S,)), _s(0x0111), _s(0x0111), _s(0x0111), _s(0x0111))
_row(Event.CLAIM, True,
     _s(0xC307), Decision(_OK, new_state=P, record_uid=True, reports=(P,)), _s(0xC302), _s(0xC300), _s(0xC300))
_row(Event.CLAIM, False, _s(0xC307), _s(0xC301), _s(0xC301), _s(0xC301), _s(0xC301))
_row(Event.SCHEDULE, None, _s(0xC307), _s(0xC303), _s(0xC303), _s(0xC303), _s(0xC303))
_row(Event.COMPLETE, True,
     _s(0xC307), _s(0xC310), Decision(_OK, new_state=C, reports=(C,), needs_final_state=True), _s(0xB306),
     _s(0xC300))
_row(Event.COMPLETE, False, _s(0xC307), _s(0xC301), _s(0xC301), _s(0xC301), _s(0xC301))
_row(Event.REQUEST_CANCEL, None,
     _s(0xC307), Decision(_OK, new_state=X, reports=(P, X), needs_final_state=True),
     Decision(_OK, cancel_requested=True), _s(0xC311), _s(0xB304))
_row(Event.CANCEL, True,
     _s(0xC307), _s(0xC310), Decision(_OK, new_state=X, reports=(X,), needs_final_state=True), _s(0xC300),
     _s(0xB304))
_row(Event.CANCEL, False, _s(0xC307), _s(0xC301), _s(0xC301), _s(0xC301), _s(0xC301))


def _uid_correct(current: State | None, given: str | None, locking: str | None) -> bool:
    if not given:
        return False
    if current is State.SCHEDULED or locking is None:
        return True  # nothing locked yet: the claim establishes the lock
    return given == locking


def decide(
    event: Event,
    current: State | None,
    *,
    transaction_uid: str | None = None,
    locking_uid: str | None = None,
    final_state_met: bool = True,
) -> Decision:
    """The Table CC.1.1-2 answer for ``event`` on a workitem in ``current`` (None: none exists)."""
    correct = _uid_correct(current, transaction_uid, locking_uid)
    decision = TABLE[(event, current, correct)]
    if decision.needs_final_state and not final_state_met:
        return _s(0xC304)
    return decision


_TARGET = {State.IN_PROGRESS: Event.CLAIM, State.COMPLETED: Event.COMPLETE, State.CANCELED: Event.CANCEL,
           State.SCHEDULED: Event.SCHEDULE}


def parse_state(value: str) -> State:
    """A Procedure Step State from a request (``ValueError`` naming the legal values)."""
    try:
        return State(value.strip().upper())
    except ValueError:
        legal = ", ".join(s.value for s in State)
        raise ValueError(f"ProcedureStepState {value!r} is not one of {legal}") from None


def event_for(target: State) -> Event:
    """The Change UPS State event that asks for ``target``."""
    return _TARGET[target]


def http_status(decision: Decision, current: State | None, *, transaction_uid: str | None = None) -> tuple[int, str]:
    """(HTTP status, message) for a UPS-RS answer (PS3.18 §11.7.3.1); the message names the state."""
    code = decision.status.code
    where = f"the workitem is {current.value}" if current is not None else "no such workitem"
    text = f"{code:04X}: {decision.status.meaning} ({where})"
    if decision.status.kind != "failure":
        return 200, text
    if code == 0xC307:
        return 404, text
    if code == 0xC309 or code == 0xC303 or (code == 0xC301 and not transaction_uid):
        return 400, text
    return 409, text
