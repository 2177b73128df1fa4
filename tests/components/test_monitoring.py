"""The alert rules' notion of a provider failure matches the outcomes the server records."""

from __future__ import annotations

from app.agents import runner
from components.monitoring import NON_FAILURE_OUTCOMES


def test_non_failure_outcomes_are_the_runners_success_and_cancelled() -> None:
    assert set(NON_FAILURE_OUTCOMES.split("|")) == {runner.SUCCESS, runner.CANCELLED}
