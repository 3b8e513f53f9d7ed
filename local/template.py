"""Reads template.yaml, the one description of the resources, for the local runtime and the tests."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from local import ROOT

TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation's short tags (!Ref, !Sub, ...) as their long form."""


def _tag(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _short in ("Ref", "Condition"):
    _CfnLoader.add_constructor(f"!{_short}", _tag(_short))
for _short in (
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "ImportValue",
    "Base64",
    "GetAZs",
):
    _CfnLoader.add_constructor(f"!{_short}", _tag(f"Fn::{_short}"))


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, mtime_ns: int) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class Template:
    body: dict[str, Any]

    @classmethod
    def load(cls, path: Path = TEMPLATE) -> Template:
        """The template, parsed once per version of the file (a copy each: callers may change it)."""
        return cls(copy.deepcopy(_parsed(path, path.stat().st_mtime_ns)))

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.body["Resources"].items() if r["Type"] == kind}

    def parameter_default(self, name: str) -> Any:
        return self.body.get("Parameters", {}).get(name, {}).get("Default")

    def http_routes(self) -> list[tuple[str, str, str]]:
        """(function logical id, method, path) for every HttpApi event, as API Gateway routes them."""
        routes = []
        for name, resource in self.resources("AWS::Serverless::Function").items():
            for event in (resource["Properties"].get("Events") or {}).values():
                if event["Type"] == "HttpApi":
                    props = event["Properties"]
                    routes.append((name, props.get("Method", "ANY").upper(), props["Path"]))
        return routes

    def handler(self, function: str) -> str:
        return self.body["Resources"][function]["Properties"]["Handler"]

    def timeout(self, function: str) -> int:
        own = self.body["Resources"][function]["Properties"].get("Timeout")
        return int(own or self.body.get("Globals", {}).get("Function", {}).get("Timeout", 3))

    def queue_sources(self) -> list[tuple[str, str, int]]:
        """(function logical id, queue logical id, batch size) for every SQS event."""
        found = []
        for name, resource in self.resources("AWS::Serverless::Function").items():
            for event in (resource["Properties"].get("Events") or {}).values():
                if event["Type"] == "SQS":
                    queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                    found.append((name, queue, int(event["Properties"].get("BatchSize", 10))))
        return found

    def schedules(self) -> list[tuple[str, float]]:
        """(function logical id, period in seconds) for every `rate(...)` Schedule event."""
        units = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
        found = []
        for name, resource in self.resources("AWS::Serverless::Function").items():
            for event in (resource["Properties"].get("Events") or {}).values():
                if event["Type"] == "Schedule":
                    amount, unit = event["Properties"]["Schedule"].removeprefix("rate(").rstrip(")").split()
                    found.append((name, float(amount) * units[unit]))
        return found

    def event_rules(self) -> list[tuple[str, dict[str, Any]]]:
        """(function logical id, event pattern) for every EventBridgeRule event."""
        found = []
        for name, resource in self.resources("AWS::Serverless::Function").items():
            for event in (resource["Properties"].get("Events") or {}).values():
                if event["Type"] == "EventBridgeRule":
                    found.append((name, event["Properties"]["Pattern"]))
        return found


def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge's matching for the patterns this template uses: exact values, nested fields.
    A value the local stack cannot resolve (an ARN from !GetAtt) is not checked."""
    for key, wanted in pattern.items():
        value = event.get(key)
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not pattern_matches(wanted, value):
                return False
        elif isinstance(wanted, list) and all(isinstance(w, str) for w in wanted) and value not in wanted:
            return False
    return True
