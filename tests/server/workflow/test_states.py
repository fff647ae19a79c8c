"""The job state table is the only authority on job state."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from server.app_errors import StateConflict
from server.workflow import states
from server.workflow.states import TRANSITIONS, JobState, TransitionError

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / "server" / "workflow"


def _code_outside_the_table() -> dict[str, str]:
    return {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
        for p in sorted((ROOT / "server").rglob("*.py"))
        if p != WORKFLOW / "states.py"
    }


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_every_transition_in_the_table_is_performed_by_the_code(action: str) -> None:
    pattern = re.compile(rf"""["']{action}["']""")
    users = [name for name, text in _code_outside_the_table().items() if pattern.search(text)]
    assert users, f"transition {action!r} is in the table but no code performs it"


def _literal_state_writes(source: str) -> list[int]:
    """Lines that write ``state=JobState.X`` / ``"state": JobState.X`` (a state not taken from the table)."""

    def is_literal_state(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "JobState"
        )

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "state" and is_literal_state(node.value):
            lines.append(node.value.lineno)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "state" and is_literal_state(value):
                    lines.append(value.lineno)
    return sorted(lines)


def test_no_code_writes_a_job_state_of_its_own() -> None:
    code = _code_outside_the_table().items()
    offenders = {name: lines for name, text in code if (lines := _literal_state_writes(text))}
    assert offenders == {}


def test_the_write_check_sees_a_literal_state() -> None:
    assert _literal_state_writes('update(J).values(state=JobState.QUEUED)\nx = {"state": JobState.FAILED}\n') == [1, 2]
    assert _literal_state_writes('update(J).values(state=transition("claim").target)\n') == []


def test_targets_follow_missing_parameters_and_refuse_other_sources() -> None:
    assert states.target_state("set_parameters", "waiting", ["pld"]) == JobState.WAITING
    assert states.target_state("set_parameters", "waiting", []) == JobState.QUEUED
    assert states.target_state("claim", "queued", []) == JobState.RUNNING
    assert states.target_state("detect", "waiting", ["pld"]) == JobState.WAITING  # no sources: always allowed
    with pytest.raises(TransitionError) as err:
        states.target_state("claim", "running", [])
    assert isinstance(err.value, StateConflict) and err.value.current_state == "running"
    assert "cannot claim a job that is running (allowed from: queued)" in err.value.message


@pytest.mark.parametrize("state", list(JobState))
def test_buttons_are_the_manual_transitions_allowed_from_the_state(state: JobState) -> None:
    expected = [a for a, t in TRANSITIONS.items() if t.manual and state in t.sources]
    assert states.actions_for(state) == expected
    for action in expected:
        states.check(action, state)


def test_every_target_is_a_state_and_terminal_states_lead_only_through_rerun_edit_or_delete() -> None:
    for t in TRANSITIONS.values():
        assert t.leads_to() <= set(JobState)
    assert TRANSITIONS["delete"].leads_to() == frozenset()
    assert TRANSITIONS["reap"].leads_to() == {JobState.QUEUED, JobState.FAILED}
    for state in states.FINISHED_STATES:
        out = {a for a, t in TRANSITIONS.items() if state in t.sources}
        assert out <= {"rerun", "reevaluate", "delete", "set_parameters"}, (state, out)
    # Editing a finished job's parameters runs it again, as a rerun does.
    assert TRANSITIONS["set_parameters"].leads_to() == TRANSITIONS["rerun"].leads_to() == {JobState.WAITING,
                                                                                           JobState.QUEUED}
