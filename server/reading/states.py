"""Reading request states and transitions, written as ONE table: the only authority on request state.

Each row names an action, the states it is allowed from, the state it leads to (``None``: the state
stays), the roles that may perform it and the party of the request the caller must belong to. The
service looks every action up here (its ``UPDATE ... WHERE state IN (...)`` is built from the row);
an action not allowed in the current state raises ``RequestTransitionError`` (409 naming the state),
a caller without the role or party raises ``ActionForbidden`` (403).

    (new) ──create──▶ to_report ──lock──▶ reporting ──submit──▶ reported ──start_review──▶ in_review
                        ▲  │  ▲              │  ▲                   │                       │   │
                        │  │  └──release─────┘  └──lock── returned ◀──────────return───────┘   │
                        │  │                                                            approve ▼
                        │  ├──send_back──▶ sent_back ──resubmit──┘                       approved
                        │  └──cancel──▶ cancelled ◀──cancel── sent_back                      │
                        └─────────────────────────────────────────────── amend (reporting) ◀──┘
    request_assistance: to_report / reporting / returned, state unchanged; the request gains an
    assisting hospital (which is granted the linked studies).
    take_over: reporting → reporting when the holder's lock expired (audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.app_errors import Forbidden, StateConflict
from server.auth.principal import Role


class RequestState(StrEnum):
    TO_REPORT = "to_report"  # 待报告
    REPORTING = "reporting"  # 报告中 (locked by one doctor)
    REPORTED = "reported"  # 已报告
    IN_REVIEW = "in_review"  # 审核中
    APPROVED = "approved"  # 已审核
    RETURNED = "returned"  # 已退回 (to the reporter, with a reason)
    SENT_BACK = "sent_back"  # 待补充 (to the requester, for missing material)
    CANCELLED = "cancelled"  # 已取消


class Party(StrEnum):
    """Which side of a request the caller's institution must be on."""

    REQUESTER = "requester"  # the requesting hospital
    READER = "reader"  # the reading hospital (itself in self-diagnosis, else the superior) or the assisting one
    ANY = "any"


S = RequestState
R = Role
DOCTORS = frozenset({R.REPORTING_DOCTOR, R.REVIEWER})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[RequestState]
    target: RequestState | None  # None: the state does not change
    roles: frozenset[Role]
    party: Party
    # The caller must hold the request's lock (the holder of a reporting request).
    needs_lock: bool = False
    # A reason (return, send back, cancel) must be given.
    needs_reason: bool = False

    @property
    def source_values(self) -> list[str]:
        return sorted(s.value for s in self.sources)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("create", frozenset(), S.TO_REPORT, frozenset({R.REQUESTING_DOCTOR, *DOCTORS}), Party.REQUESTER),
        Transition("cancel", frozenset({S.TO_REPORT, S.SENT_BACK}), S.CANCELLED,
                   frozenset({R.REQUESTING_DOCTOR}), Party.REQUESTER),
        Transition("lock", frozenset({S.TO_REPORT, S.RETURNED}), S.REPORTING, DOCTORS, Party.READER),
        Transition("take_over", frozenset({S.REPORTING}), S.REPORTING, DOCTORS, Party.READER),
        Transition("release", frozenset({S.REPORTING}), S.TO_REPORT, DOCTORS | {R.INSTITUTION_ADMIN}, Party.READER),
        Transition("save", frozenset({S.REPORTING}), None, DOCTORS, Party.READER, needs_lock=True),
        Transition("submit", frozenset({S.REPORTING}), S.REPORTED, DOCTORS, Party.READER, needs_lock=True),
        Transition("start_review", frozenset({S.REPORTED}), S.IN_REVIEW, frozenset({R.REVIEWER}), Party.READER),
        Transition("approve", frozenset({S.IN_REVIEW}), S.APPROVED, frozenset({R.REVIEWER}), Party.READER),
        Transition("return", frozenset({S.REPORTED, S.IN_REVIEW}), S.RETURNED, frozenset({R.REVIEWER}),
                   Party.READER, needs_reason=True),
        Transition("send_back", frozenset({S.TO_REPORT}), S.SENT_BACK, DOCTORS, Party.READER, needs_reason=True),
        Transition("resubmit", frozenset({S.SENT_BACK}), S.TO_REPORT, frozenset({R.REQUESTING_DOCTOR}),
                   Party.REQUESTER),
        Transition("request_assistance", frozenset({S.TO_REPORT, S.REPORTING, S.RETURNED}), None, DOCTORS,
                   Party.READER),
        Transition("amend", frozenset({S.APPROVED}), S.REPORTING, DOCTORS, Party.READER),
    )
}

# Actions that change the linked studies or attachments (the requester's material).
MATERIAL_STATES = frozenset({S.TO_REPORT, S.SENT_BACK})
# States in which the report's versions are visible to the requesting side.
REPORT_VISIBLE_TO_REQUESTER = frozenset({S.APPROVED})
# Routing grants are removed when a request ends in these states.
ENDED_WITHOUT_REPORT = frozenset({S.CANCELLED})


class RequestTransitionError(StateConflict):
    """An action is not allowed from the request's current state (409 naming the state)."""

    def __init__(self, action: str, state: str) -> None:
        allowed = ", ".join(TRANSITIONS[action].source_values) if action in TRANSITIONS else "none"
        super().__init__(
            f"cannot {action.replace('_', ' ')} a reading request that is {state} (allowed from: {allowed})", state
        )
        self.action = action
        self.state = state


class ActionForbidden(Forbidden):
    """The caller's role or side of the request does not allow the action (403)."""


def transition(action: str) -> Transition:
    return TRANSITIONS[action]


def check_state(action: str, state: str) -> Transition:
    t = TRANSITIONS[action]
    if RequestState(state) not in t.sources:
        raise RequestTransitionError(action, state)
    return t


def role_allows(action: str, role: Role) -> bool:
    return role is Role.ADMIN or role in TRANSITIONS[action].roles


def check_role(action: str, role: Role, parties: frozenset[Party]) -> Transition:
    """Raise ActionForbidden unless ``role`` on one of ``parties`` may perform ``action``."""
    t = TRANSITIONS[action]
    if role is Role.ADMIN:
        return t
    if role not in t.roles:
        names = ", ".join(sorted(r.value for r in t.roles))
        raise ActionForbidden(f"{action.replace('_', ' ')} needs one of the roles {names} (you are {role.value})")
    if t.party is not Party.ANY and t.party not in parties:
        raise ActionForbidden(
            f"{action.replace('_', ' ')} is for the {t.party.value} hospital of the request"
        )
    return t


def target_state(action: str, state: str) -> RequestState:
    t = check_state(action, state)
    return t.target if t.target is not None else RequestState(state)


def actions_for(state: str, role: Role, parties: frozenset[Party]) -> list[str]:
    """What the caller may do now (the UI shows these buttons); ``create`` and ``save`` excluded."""
    rs = RequestState(state)
    out = []
    for t in TRANSITIONS.values():
        if t.action in ("create", "save") or rs not in t.sources:
            continue
        if role is Role.ADMIN or (role in t.roles and (t.party is Party.ANY or t.party in parties)):
            out.append(t.action)
    return out


__all__ = [
    "TRANSITIONS", "ActionForbidden", "Party", "RequestState", "RequestTransitionError", "Transition",
    "actions_for", "check_role", "check_state", "target_state", "transition",
]
