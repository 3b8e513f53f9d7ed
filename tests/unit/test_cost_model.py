"""`make cost`'s model: its figures follow from the template, the timing profiles and the prices."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from bench.cost_model import (
    Inputs,
    Model,
    Prices,
    fixed_per_month,
    per_recording_hour,
    report,
    standby_per_month,
)


def test_the_inputs_come_from_the_template_and_the_profiles() -> None:
    default, fast = Inputs.read("default"), Inputs.read("fast")
    assert (default.heartbeat_s, default.chunk_s, fast.heartbeat_s, fast.chunk_s) == (10, 10, 2, 2)
    assert (default.lambda_gb, default.task_vcpu, default.task_gb) == (0.5, 2.0, 4.0)
    assert default.snapstart_functions == 2


def test_a_heartbeat_five_times_as_often_costs_five_times_in_requests() -> None:
    prices, model = Prices(), replace(Model(), webhooks_per_recording=0)
    default = per_recording_hour(Inputs.read("default"), prices, model)
    fast = per_recording_hour(Inputs.read("fast"), prices, model)
    key = "API Gateway (heartbeats, webhooks)"
    assert default[key] == pytest.approx(360 / 1e6)  # 360 heartbeats an hour at $1 a million
    assert fast[key] == pytest.approx(5 * default[key])


def test_a_standby_is_its_idle_task_and_its_polls() -> None:
    inputs, prices = Inputs.read("default"), Prices()
    standby = standby_per_month(inputs, prices, Model())
    assert standby["Fargate task, idle and warm"] == pytest.approx(720 * (2 * 0.04048 + 4 * 0.004445))
    slower = standby_per_month(inputs, prices, replace(Model(), standby_poll_s=3.0))
    assert slower["its polls: API Gateway"] == pytest.approx(standby["its polls: API Gateway"] / 10)


def test_the_detector_is_billed_for_its_whole_budget() -> None:
    inputs = Inputs.read("default")
    fixed = fixed_per_month(inputs, Prices(), Model())
    runs = 43_200
    expected = runs * 0.2 / 1e6 + runs * inputs.detector_budget_s * 0.5 * 0.0000166667
    assert fixed["detector Lambda (one run a minute, busy for its budget)"] == pytest.approx(expected)


def test_the_report_totals_its_lines() -> None:
    figures = report("default")
    lines = figures["per_1000_recording_hours"]
    assert isinstance(lines, dict)
    assert figures["per_1000_recording_hours_total"] == pytest.approx(sum(lines.values()), abs=0.02)
    assert all(value >= 0 and math.isfinite(value) for value in lines.values())
