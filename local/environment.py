"""The functions' environment, taken from template.yaml and resolved for this machine.

Globals and each function's variables are read from the template; `!Ref` to a resource
becomes its local name, `!Ref` to a parameter its local value or default. What the
user already exported wins, so any setting can be overridden as in AWS.
"""

from __future__ import annotations

from typing import Any

from local.template import Template


class _Unresolved(Exception):
    pass


def resolve(value: Any, template: Template, names: dict[str, str], parameters: dict[str, Any]) -> Any:
    """Evaluates the few intrinsic functions the template's variables use."""
    if not isinstance(value, dict):
        return value
    ((function, argument),) = value.items()
    if function == "Ref":
        if argument in names:
            return names[argument]
        if argument in parameters:
            return parameters[argument]
        # A resource the local runtime does not make (the credentials secret): the variable
        # is left out and the code takes its local path (credentials from the environment).
        raise _Unresolved(argument)
    if function == "Fn::If":
        condition, when_true, when_false = argument
        chosen = when_true if _condition(condition, template, names, parameters) else when_false
        return resolve(chosen, template, names, parameters)
    if function == "Fn::Equals":
        left, right = (resolve(v, template, names, parameters) for v in argument)
        return str(left) == str(right)
    if function == "Fn::Sub" and isinstance(argument, str):
        text = argument
        for name, local in {**names, **parameters, "AWS::Region": "us-east-1"}.items():
            text = text.replace("${" + name + "}", str(local))
        if "${" in text:  # names something the local runtime does not make (the HTTP API, say)
            raise _Unresolved(text)
        return text
    if function == "Fn::Join":
        separator, parts = argument
        values = (
            resolve(parts, template, names, parameters)
            if isinstance(parts, dict)
            else [resolve(p, template, names, parameters) for p in parts]
        )
        return separator.join(str(v) for v in values)
    raise _Unresolved(function)


def _condition(name: str, template: Template, names: dict[str, str], parameters: dict[str, Any]) -> bool:
    return bool(resolve(template.body["Conditions"][name], template, names, parameters))


def declared_variables(template: Template) -> set[str]:
    """Every variable name the template gives any function."""
    names = set(
        template.body.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    for resource in template.resources("AWS::Serverless::Function").values():
        names |= set((resource["Properties"].get("Environment") or {}).get("Variables") or {})
    return names


def function_environment(
    template: Template, names: dict[str, str], parameters: dict[str, Any] | None = None
) -> dict[str, str]:
    """Every variable any function declares, resolved; the ones that cannot be resolved are left out."""
    params = {
        name: spec.get("Default", "") for name, spec in (template.body.get("Parameters") or {}).items()
    } | dict(parameters or {})
    declared: dict[str, Any] = dict(
        template.body.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    for resource in template.resources("AWS::Serverless::Function").values():
        declared.update((resource["Properties"].get("Environment") or {}).get("Variables") or {})
    environment = {}
    for key, value in declared.items():
        try:
            resolved = resolve(value, template, names, params)
        except _Unresolved:
            continue
        if resolved not in (None, ""):
            environment[key] = str(resolved)
    return environment
