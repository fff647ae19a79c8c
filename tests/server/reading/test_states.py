"""The reading request state table: every path of the issue, refusals naming the state, roles and sides."""

from __future__ import annotations

import pytest

from server.app_errors import Forbidden, StateConflict
from server.auth.principal import Role
from server.errors import status_for
from server.reading.states import (
    TRANSITIONS,
    Party,
    RequestState,
    RequestTransitionError,
    actions_for,
    check_role,
    target_state,
)

S = RequestState
READER = frozenset({Party.READER})
REQUESTER = frozenset({Party.REQUESTER})


def walk(*actions: str) -> RequestState:
    state = S.TO_REPORT
    for action in actions:
        state = target_state(action, state)
    return state


def test_the_happy_path_and_its_branches() -> None:
    assert walk("lock", "submit", "start_review", "approve") is S.APPROVED
    assert walk("lock", "submit", "start_review", "return") is S.RETURNED
    assert walk("lock", "submit", "start_review", "return", "lock", "submit", "start_review", "approve") is S.APPROVED
    assert walk("lock", "release") is S.TO_REPORT
    assert walk("cancel") is S.CANCELLED
    assert walk("send_back") is S.SENT_BACK
    assert walk("send_back", "resubmit", "lock") is S.REPORTING
    assert walk("send_back", "cancel") is S.CANCELLED
    assert walk("request_assistance") is S.TO_REPORT
    assert walk("lock", "request_assistance", "save", "take_over") is S.REPORTING
    assert walk("lock", "submit", "start_review", "approve", "amend", "submit") is S.REPORTED


@pytest.mark.parametrize(
    ("actions", "action", "state"),
    [
        (("lock",), "cancel", "reporting"),  # the requester may cancel only before reporting starts
        ((), "approve", "to_report"),
        (("lock", "submit"), "approve", "reported"),  # review starts first
        (("cancel",), "lock", "cancelled"),
        (("lock", "submit", "start_review", "approve"), "return", "approved"),
        ((), "submit", "to_report"),
        ((), "release", "to_report"),
    ],
)
def test_an_illegal_transition_is_a_409_naming_the_current_state(actions: tuple[str, ...], action: str,
                                                                 state: str) -> None:
    current = walk(*actions)
    assert current.value == state
    with pytest.raises(RequestTransitionError) as info:
        target_state(action, current)
    assert isinstance(info.value, StateConflict)
    assert info.value.current_state == state
    assert state in info.value.message and action.replace("_", " ") in info.value.message
    assert status_for(info.value) == 409


def test_roles_and_sides() -> None:
    check_role("lock", Role.REPORTING_DOCTOR, READER)
    check_role("approve", Role.REVIEWER, READER)
    check_role("cancel", Role.REQUESTING_DOCTOR, REQUESTER)
    for action, role, parties in [
        ("approve", Role.REPORTING_DOCTOR, READER),  # a reporter does not approve
        ("lock", Role.REQUESTING_DOCTOR, READER),
        ("lock", Role.REPORTING_DOCTOR, REQUESTER),  # a reporter of the requesting side, superior mode
        ("cancel", Role.REQUESTING_DOCTOR, READER),
        ("cancel", Role.READ_ONLY, REQUESTER),
    ]:
        with pytest.raises(Forbidden) as info:
            check_role(action, role, parties)
        assert status_for(info.value) == 403
    check_role("approve", Role.ADMIN, frozenset())  # an admin may do everything


def test_the_table_is_complete_and_consistent() -> None:
    # Every state but the start is reachable, and every non-final state has a way out.
    reached = {t.target for t in TRANSITIONS.values() if t.target}
    assert reached == set(S)
    for state in S:
        outs = {t.target or state for t in TRANSITIONS.values() if state in t.sources} - {state}
        assert outs or state is S.CANCELLED, state
    assert {t.action for t in TRANSITIONS.values() if t.needs_reason} == {"return", "send_back"}


def test_actions_for_lists_only_what_the_caller_may_do() -> None:
    assert actions_for("to_report", Role.REQUESTING_DOCTOR, REQUESTER) == ["cancel"]
    assert set(actions_for("to_report", Role.REPORTING_DOCTOR, READER)) == {"lock", "send_back", "request_assistance"}
    assert set(actions_for("in_review", Role.REVIEWER, READER)) == {"approve", "return"}
    assert actions_for("cancelled", Role.ADMIN, frozenset()) == []
