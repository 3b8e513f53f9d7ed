"""What operators get from the template and the functions: the dashboard shows every metric the
code emits and every alarm; SnapStart on the latency-bound functions, with jitter reseeded."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from local.template import Template

ROOT = Path(__file__).resolve().parents[2]


def dashboard(template: Template) -> dict[str, Any]:
    body = template.resources("AWS::CloudWatch::Dashboard")["OperatorsDashboard"]["Properties"]
    text = body["DashboardBody"]["Fn::Sub"]
    # every ${...} is CloudFormation's: give each a value, then it must be valid JSON
    return json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: f"SUB_{m.group(1)}", text))


def emitted_metrics() -> set[str]:
    """Every OpenViduHA metric name the functions write (all through a sink's add_metric)."""
    names: set[str] = set()
    for source in (ROOT / "functions").rglob("*.py"):
        text = source.read_text()
        names |= set(re.findall(r'add_metric\(\s*name="([A-Za-z]+)"', text))
    return names


def test_the_dashboard_shows_every_alarm_of_the_stack() -> None:
    template = Template.load()
    widgets = dashboard(template)["widgets"]
    shown = {a for w in widgets if w["type"] == "alarm" for a in w["properties"]["alarms"]}
    alarms = template.resources("AWS::CloudWatch::Alarm")
    assert alarms
    assert shown == {f"SUB_{name}.Arn" for name in alarms}


def test_every_metric_the_code_emits_is_on_the_dashboard_or_alarmed() -> None:
    template = Template.load()
    text = json.dumps(dashboard(template))
    alarmed = {
        a["Properties"].get("MetricName") for a in template.resources("AWS::CloudWatch::Alarm").values()
    }
    names = emitted_metrics()
    assert {"RecordingsInProgress", "Takeovers", "MediaLostSeconds", "WebhooksDelivered"} <= names
    missing = {n for n in names if f'MetricName=\\"{n}\\"' not in text and n not in alarmed}
    assert not missing, f"emitted but neither on the dashboard nor alarmed: {sorted(missing)}"


def test_each_alarm_on_our_metrics_names_the_service_that_writes_them() -> None:
    """powertools puts a `service` dimension on every metric; an alarm naming another service
    watches a metric nobody writes (the detector's alarms did, until the relay's was added)."""
    services = set()
    for app in (ROOT / "functions").glob("*/app.py"):
        services |= set(re.findall(r'Metrics\(service="([a-z-]+)"\)', app.read_text()))
    ours = [
        a["Properties"]
        for a in Template.load().resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "OpenViduHA"
    ]
    assert ours
    for alarm in ours:
        (dimension,) = [d for d in alarm["Dimensions"] if d["Name"] == "service"]
        assert dimension["Value"] in services, (alarm["MetricName"], dimension["Value"], services)


def test_the_dashboard_reads_the_aws_figures_operators_need() -> None:
    text = json.dumps(dashboard(Template.load()))
    for needed in ('"4xx"', '"5xx"', '"Latency"', '"Throttles"', '"Errors"', "ApproximateAgeOfOldestMessage"):
        assert needed in text
    for function in ("ApiFunction", "WebhookFunction", "RelayFunction", "DetectorFunction"):
        assert f"SUB_{function}" in text


def test_widgets_do_not_overlap() -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard(Template.load())["widgets"]:
        mine = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert widget["x"] + widget["width"] <= 24
        assert not cells & mine, widget["properties"].get("title")
        cells |= mine


@pytest.mark.parametrize("function", ["ApiFunction", "WebhookFunction"])
def test_snapstart_on_the_functions_a_caller_waits_for(function: str) -> None:
    props = Template.load().resources("AWS::Serverless::Function")[function]["Properties"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["AutoPublishAlias"]  # SnapStart applies to published versions: routes call the alias


def test_restored_environments_draw_different_jitter() -> None:
    """Two environments restored from one snapshot share `random`'s state; the hook reseeds each."""
    snapshot_restore_py = pytest.importorskip("snapshot_restore_py")
    from hacore.snapstart import reseed_after_restore

    before = len(snapshot_restore_py.get_after_restore())
    assert reseed_after_restore()
    hooks = snapshot_restore_py.get_after_restore()[before:]
    assert [func for func, _, _ in hooks] == [random.seed]
    snapshot = random.getstate()
    draws = []
    for _ in range(2):  # two environments from the same snapshot, each running the hooks on restore
        random.setstate(snapshot)
        for func, args, kwargs in hooks:
            func(*args, **kwargs)
        draws.append(random.random())
    assert draws[0] != draws[1]
    random.setstate(snapshot)
    without = random.random()
    random.setstate(snapshot)
    assert random.random() == without  # what every environment would draw without the hook
