"""The webhook retry schedule: a day by default, the original's attempts/delay kept, every step an
SQS visibility timeout (at most 12 h), jitter, a time scale; and the endpoint state's one probe."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from hacore.settings import Settings
from hacore.settings.retry_schedule import RetrySchedule, parse_waits
from hacore.webhooks.health import EndpointState
from local.provision import create_queues, create_tables
from local.template import Template


def test_the_default_is_about_a_day_like_svix() -> None:
    schedule = Settings.from_env({}).webhook_schedule
    assert schedule.describe() == ["5s", "5m", "30m", "2h", "5h", "10h", "10h"]
    assert schedule.attempts == 8
    assert 24 * 3600 < schedule.span_s < 28 * 3600


def test_a_schedule_is_written_in_units() -> None:
    assert parse_waits("5s, 5m,2h ,1d,250ms,7") == [5, 300, 7200, 86400, 0.25, 7]
    schedule = Settings.from_env({"OPENVIDU_WEBHOOK_RETRY_SCHEDULE": "1m,1h"}).webhook_schedule
    assert (schedule.waits, schedule.attempts) == ((60, 3600), 3)


def test_the_originals_attempts_and_delay_keep_their_meaning() -> None:
    both = Settings.from_env({"OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "4", "OPENVIDU_WEBHOOK_RETRY_DELAY": "1000"})
    assert both.webhook_schedule.waits == (1, 2, 4)
    capped = Settings.from_env(
        {"OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "12", "OPENVIDU_WEBHOOK_MAX_BACKOFF": "60"}
    ).webhook_schedule
    assert capped.attempts == 12
    assert max(capped.waits) == 60
    # blank (the template's default) is not set: the day's schedule
    blank = Settings.from_env({"OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "", "OPENVIDU_WEBHOOK_RETRY_DELAY": ""})
    assert blank.webhook_schedule.attempts == 8
    # the schedule wins over the original's settings when both are given
    given = Settings.from_env(
        {"OPENVIDU_WEBHOOK_RETRY_SCHEDULE": "1h", "OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "9"}
    )
    assert given.webhook_schedule.waits == (3600,)


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("5s,13h", "may not exceed 12h"),
        ("12h," * 13 + "1h", "at most 6d"),
        ("5s,soon", "'soon' is not a wait"),
        ("5s,,1m", "'' is not a wait"),
    ],
)
def test_a_schedule_sqs_cannot_carry_is_refused_by_name(schedule: str, words: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings.from_env({"OPENVIDU_WEBHOOK_RETRY_SCHEDULE": schedule})
    assert "OPENVIDU_WEBHOOK_RETRY_SCHEDULE" in str(error.value)
    assert words in str(error.value)


def test_the_originals_budget_must_fit_sqs_too() -> None:
    with pytest.raises(ValidationError) as error:
        Settings.from_env({"OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "100", "OPENVIDU_WEBHOOK_MAX_BACKOFF": "43200"})
    assert "OPENVIDU_WEBHOOK_RETRY_ATTEMPTS with OPENVIDU_WEBHOOK_RETRY_DELAY: the whole schedule" in str(
        error.value
    )


def test_waits_have_jitter_a_time_scale_and_an_end() -> None:
    schedule = RetrySchedule((300, 7200), scale=1)
    assert schedule.wait_after(1, rng=lambda: 0.0) == 240  # -20%
    assert schedule.wait_after(1, rng=lambda: 1.0) == 360  # +20%
    assert schedule.wait_after(2, rng=lambda: 0.5) == 7200
    assert schedule.wait_after(3) is None  # spent: the DLQ
    scaled = RetrySchedule((7200, 36_000), scale=3600)  # a second stands for an hour
    assert scaled.wait_after(2, rng=lambda: 0.5) == 10
    assert scaled.span_s == 12
    assert RetrySchedule((43_200,)).wait_after(1, rng=lambda: 1.0) == 43_200  # SQS's 12 h, not more


@pytest.fixture
def state() -> EndpointState:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        tables, queues = create_tables(dynamodb, Template.load()), create_queues(sqs, Template.load())
        yield EndpointState(dynamodb, tables["WebhookStateTable"], sqs, queues["WebhookQueue"])


def test_a_failing_endpoint_has_one_prober_at_a_time(state: EndpointState) -> None:
    assert not state.health("hooks").failing
    assert not state.claim_probe("hooks", 100.0, 10)  # a healthy endpoint is not probed: it is used
    state.failed("hooks", 100.0, "HTTP 503", next_probe_at=105.0, failing_after_s=10)
    assert not state.health("hooks").failing  # one failure is not an outage
    assert not state.claim_probe("hooks", 105.0, 10)
    state.failed("hooks", 111.0, "HTTP 503", next_probe_at=116.0, failing_after_s=10)
    assert state.health("hooks").failing  # nothing but failures for 10 s
    assert not state.claim_probe("hooks", 115.0, 10)  # resting
    assert state.claim_probe("hooks", 116.0, 10)
    assert not state.claim_probe("hooks", 116.0, 10)  # the lease is taken
    assert not state.claim_probe("hooks", 125.0, 10)
    assert state.claim_probe("hooks", 126.0, 10)  # the first prober died: its lease ran out
    state.failed("hooks", 127.0, "HTTP 503", next_probe_at=187.0, failing_after_s=10)
    health = state.health("hooks")
    assert (health.failingSince, health.nextProbeAt, health.down_s(130.0)) == (100.0, 187.0, 30.0)
    assert health.view(130.0, unhealthy_after_s=60)["health"] == "failing"
    assert health.view(160.0, unhealthy_after_s=60)["health"] == "unhealthy"
    ended = state.recovered("hooks", 180.0)  # the one caller that saw it answer
    assert ended is not None
    assert (ended.failing, ended.failingSince) == (True, 100.0)
    assert state.recovered("hooks", 180.0) is None
    assert state.health("hooks").view(181.0, 60)["health"] == "healthy"


def test_a_flaky_endpoint_is_never_held_back(state: EndpointState) -> None:
    """Failures between successes never make a streak: every webhook keeps its own attempts."""
    for second in range(200, 300, 3):
        state.failed("flaky", float(second), "HTTP 503", next_probe_at=second + 60.0, failing_after_s=10)
        assert not state.health("flaky").failing
        ended = state.recovered("flaky", second + 1.0)  # the next delivery went through
        assert ended is not None
        assert not ended.failing


def test_turns_count_per_webhook_and_parked_handles_are_woken_once(state: EndpointState) -> None:
    assert [state.count_turn("hooks", "w1#0", 1.0) for _ in range(3)] == [1, 2, 3]
    assert state.count_turn("hooks", "w1#1", 1.0) == 1  # redriven: a fresh schedule
    state.park("hooks", "hooks/rec:a", "no-longer-valid-handle", 1.0)
    assert [key for key, _ in state.parked("hooks")] == ["parked#hooks/rec:a"]
    assert state.wake("hooks") == 0  # a stale handle is skipped, and forgotten
    assert state.parked("hooks") == []
