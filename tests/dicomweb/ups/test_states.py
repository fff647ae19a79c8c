"""The UPS state machine against PS3.4 Table CC.1.1-2, cell by cell."""

from __future__ import annotations

import itertools

import pytest

from dicomweb.ups.states import (
    TABLE,
    Event,
    State,
    decide,
    event_for,
    http_status,
    parse_state,
)

S, P, C, X = State.SCHEDULED, State.IN_PROGRESS, State.COMPLETED, State.CANCELED
LOCK = "1.2.3.4"

# (event, state, Transaction UID given) -> (status, new state); the table written out again by hand
EXPECTED = [
    (Event.CREATE, None, None, 0x0000, S), (Event.CREATE, S, None, 0x0111, None),
    (Event.CREATE, P, LOCK, 0x0111, None), (Event.CREATE, C, None, 0x0111, None),
    (Event.CREATE, X, None, 0x0111, None),
    # claim with the right UID (any UID claims a SCHEDULED workitem)
    (Event.CLAIM, None, LOCK, 0xC307, None), (Event.CLAIM, S, "9.9", 0x0000, P), (Event.CLAIM, P, LOCK, 0xC302, None),
    (Event.CLAIM, C, LOCK, 0xC300, None), (Event.CLAIM, X, LOCK, 0xC300, None),
    # claim without the right UID
    (Event.CLAIM, S, None, 0xC301, None), (Event.CLAIM, P, "9.9", 0xC301, None), (Event.CLAIM, C, "9.9", 0xC301, None),
    (Event.CLAIM, X, None, 0xC301, None),
    (Event.SCHEDULE, None, LOCK, 0xC307, None), (Event.SCHEDULE, S, LOCK, 0xC303, None),
    (Event.SCHEDULE, P, LOCK, 0xC303, None), (Event.SCHEDULE, C, LOCK, 0xC303, None),
    (Event.SCHEDULE, X, None, 0xC303, None),
    (Event.COMPLETE, None, LOCK, 0xC307, None), (Event.COMPLETE, S, LOCK, 0xC310, None),
    (Event.COMPLETE, P, LOCK, 0x0000, C), (Event.COMPLETE, C, LOCK, 0xB306, None),
    (Event.COMPLETE, X, LOCK, 0xC300, None),
    (Event.COMPLETE, S, None, 0xC301, None), (Event.COMPLETE, P, "9.9", 0xC301, None),
    (Event.COMPLETE, C, "9.9", 0xC301, None), (Event.COMPLETE, X, "9.9", 0xC301, None),
    (Event.REQUEST_CANCEL, None, None, 0xC307, None), (Event.REQUEST_CANCEL, S, None, 0x0000, X),
    (Event.REQUEST_CANCEL, P, None, 0x0000, None), (Event.REQUEST_CANCEL, C, None, 0xC311, None),
    (Event.REQUEST_CANCEL, X, None, 0xB304, None),
    (Event.CANCEL, None, LOCK, 0xC307, None), (Event.CANCEL, S, LOCK, 0xC310, None), (Event.CANCEL, P, LOCK, 0x0000, X),
    (Event.CANCEL, C, LOCK, 0xC300, None), (Event.CANCEL, X, LOCK, 0xB304, None),
    (Event.CANCEL, S, None, 0xC301, None), (Event.CANCEL, P, "9.9", 0xC301, None),
    (Event.CANCEL, X, "9.9", 0xC301, None),
]


@pytest.mark.parametrize("event,state,uid,code,new_state", EXPECTED)
def test_table_cc_1_1_2(event, state, uid, code, new_state) -> None:  # type: ignore[no-untyped-def]
    d = decide(event, state, transaction_uid=uid, locking_uid=None if state in (None, S) else LOCK)
    assert (d.status.code, d.new_state) == (code, new_state)


def test_every_cell_is_defined() -> None:
    for event, state, flag in itertools.product(Event, (None, *State), (True, False)):
        assert (event, state, flag) in TABLE


def test_claim_records_the_lock_and_reports() -> None:
    d = decide(Event.CLAIM, S, transaction_uid=LOCK)
    assert d.record_uid and d.reports == (P,)
    assert not decide(Event.COMPLETE, P, transaction_uid=LOCK, locking_uid=LOCK).record_uid


def test_cancel_request_paths() -> None:
    scheduled = decide(Event.REQUEST_CANCEL, S)
    assert scheduled.reports == (P, X) and scheduled.new_state is X and not scheduled.cancel_requested
    in_progress = decide(Event.REQUEST_CANCEL, P, locking_uid=LOCK)
    assert in_progress.cancel_requested and in_progress.new_state is None and in_progress.reports == ()


def test_final_state_requirements_gate_the_final_transitions() -> None:
    for event in (Event.COMPLETE, Event.CANCEL):
        d = decide(event, P, transaction_uid=LOCK, locking_uid=LOCK, final_state_met=False)
        assert d.status.code == 0xC304 and d.new_state is None
    assert decide(Event.REQUEST_CANCEL, S, final_state_met=False).status.code == 0xC304
    # a refusal for another reason stays that reason
    assert decide(Event.COMPLETE, S, transaction_uid=LOCK, final_state_met=False).status.code == 0xC310


def test_two_clients_claiming_one_wins() -> None:
    first = decide(Event.CLAIM, S, transaction_uid="1.1")
    assert first.ok and first.record_uid
    second = decide(Event.CLAIM, first.new_state, transaction_uid="2.2", locking_uid="1.1")
    assert second.status.code == 0xC301 and not second.ok


@pytest.mark.parametrize(
    "event,state,uid,status",
    [
        (Event.CLAIM, S, LOCK, 200),
        (Event.COMPLETE, C, LOCK, 200),  # B306 warning
        (Event.CANCEL, X, LOCK, 200),  # B304 warning
        (Event.CLAIM, None, LOCK, 404),
        (Event.COMPLETE, P, None, 400),  # no Transaction UID at all
        (Event.SCHEDULE, P, LOCK, 400),
        (Event.COMPLETE, P, "9.9", 409),  # wrong UID
        (Event.CLAIM, P, LOCK, 409),
        (Event.COMPLETE, S, LOCK, 409),
        (Event.REQUEST_CANCEL, C, None, 409),
        (Event.CREATE, S, None, 409),
    ],
)
def test_http_status_names_the_current_state(event, state, uid, status) -> None:  # type: ignore[no-untyped-def]
    d = decide(event, state, transaction_uid=uid, locking_uid=None if state in (None, S) else LOCK)
    code, message = http_status(d, state, transaction_uid=uid)
    assert code == status
    assert f"{d.status.code:04X}" in message
    assert (state.value if state else "no such workitem") in message


def test_state_values() -> None:
    assert parse_state("in progress") is P and parse_state(" COMPLETED ") is C
    with pytest.raises(ValueError, match="IN PROGRESS"):
        parse_state("DONE")
    assert event_for(P) is Event.CLAIM and event_for(X) is Event.CANCEL and event_for(S) is Event.SCHEDULE
    assert C.final and X.final and not S.final and not P.final
