"""`ovha`: the operator's command line, over the controller's own HTTP API.

It makes the calls an operator would make with curl, locally (`make up`) or in AWS, and prints
a table, or the API's JSON with `--json` for scripts. Where to connect, first found wins:
`--url`, `--user`, `--password`; then OVHA_URL, HA_CONTROLLER_USERNAME, HA_CONTROLLER_PASSWORD;
then, with `--stack NAME` (or OVHA_STACK), the stack's `ApiUrl` output and its Secrets Manager
credentials; else the local stack on 127.0.0.1:8080 with its default credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

LOCAL_URL = "http://127.0.0.1:8080"
EXIT_REFUSED = 1  # the API answered with an error
EXIT_UNREACHABLE = 2  # no answer at all


@dataclass(frozen=True)
class Target:
    url: str
    auth: tuple[str, str]


def resolve_target(arguments: argparse.Namespace, environ: dict[str, str]) -> Target:
    from local.runtime import ORIGINAL_PASSWORD, ORIGINAL_USERNAME

    stack = arguments.stack or environ.get("OVHA_STACK")
    url = arguments.url or environ.get("OVHA_URL")
    user = arguments.user or environ.get("HA_CONTROLLER_USERNAME")
    password = arguments.password or environ.get("HA_CONTROLLER_PASSWORD")
    if stack and not (url and user and password):
        found = from_stack(stack, arguments.region or environ.get("AWS_REGION"))
        url, user, password = url or found.url, user or found.auth[0], password or found.auth[1]
    return Target((url or LOCAL_URL).rstrip("/"), (user or ORIGINAL_USERNAME, password or ORIGINAL_PASSWORD))


def from_stack(stack: str, region: str | None) -> Target:
    """The deployed stack's API address and its generated credentials (CloudFormation, Secrets Manager)."""
    import boto3

    outputs = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"][0]
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs.get("Outputs", [])}
    secret = boto3.client("secretsmanager", region_name=region).get_secret_value(
        SecretId=values["CredentialsSecretArn"]
    )
    credentials = json.loads(secret["SecretString"])
    return Target(values["ApiUrl"], (credentials["username"], credentials["password"]))


class Refused(Exception):
    """The API said no (`status`, its JSON), or a local check did (`text` says what)."""

    def __init__(self, status: int, payload: Any, text: str | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.payload, self.text = status, payload, text


def call(target: Target, method: str, path: str, body: Any = None) -> Any:
    reply = requests.request(method, target.url + path, auth=target.auth, json=body, timeout=60)
    payload = reply.json() if reply.content else {}
    if not reply.ok:
        raise Refused(reply.status_code, payload)
    return payload


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain text table: a header, then one line a row; blanks for what a row lacks."""
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    return "\n".join(lines)


def pairs(record: dict[str, Any], keys: Sequence[str] | None = None) -> str:
    chosen = keys or [k for k, v in record.items() if not isinstance(v, dict | list)]
    width = max(len(k) for k in chosen)
    return "\n".join(f"{k.ljust(width)}  {'' if record.get(k) is None else record.get(k)}" for k in chosen)


SESSION_COLUMNS = ("sessionId", "status", "epoch", "lastChunk", "lastHeartbeat", "clientHost")
BACKUP_COLUMNS = (
    "sessionId",
    "containerId",
    "state",
    "epoch",
    "startChunk",
    "launcher",
    "startedAt",
    "logStream",
)


# --- commands: each returns (the API's JSON, its human rendering) ---------------------------


def sessions_list(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "GET", "/api/sessions/all" if a.all else "/api/sessions")
    return payload, table(payload["sessions"], SESSION_COLUMNS) + f"\n({len(payload['sessions'])} sessions)"


def sessions_get(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "GET", f"/api/sessions/{a.session}")
    history = payload.get("failovers") or []
    text = pairs(payload)
    if history:
        text += "\n\nfailovers\n" + table(
            history, ("epoch", "reason", "outcome", "startChunk", "launcherRef")
        )
    return payload, text


def takeover(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "POST", f"/api/failover/{a.session}")
    return payload, pairs(
        payload, ("message", "sessionId", "reason", "epoch", "startChunk", "backupContainerId")
    )


def handover(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "POST", f"/api/sessions/{a.session}/handover")
    return payload, pairs(
        payload, ("message", "sessionId", "reason", "epoch", "startChunk", "backupContainerId")
    )


def hosts_drain(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "POST", f"/api/hosts/{a.host}/drain")
    return payload, pairs(
        payload, ("host", "draining", "empty", "live", "handingOver", "waiting", "startedNow")
    )


def hosts_show(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "GET", f"/api/hosts/{a.host}")
    return payload, pairs(payload, ("host", "draining", "empty", "live", "handingOver", "waiting"))


def failover_status(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "GET", "/api/failover/status")
    guard = payload.get("stormGuard") or {}
    text = (
        pairs(payload)
        + f"\nstormGuard  {'ENGAGED since ' + str(guard.get('since')) if guard.get('engaged') else 'off'}"
    )
    if guard.get("unheard"):  # silent to the controller, alive by S3: not taken over
        text += f"\nunheard     {', '.join(guard['unheard'])} (S3 shows their chunks arriving)"
    return payload, text


def backups_list(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "GET", "/api/failover/backups")
    rows = [b | {"logStream": (b.get("detail") or {}).get("logStream")} for b in payload["backups"]]  # ECS
    return payload, table(rows, BACKUP_COLUMNS) + f"\n({payload['count']} running)"


def backups_stop(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    path = f"/api/failover/backup/{a.session}" + ("/force" if a.force else "")
    payload = call(t, "DELETE", path)
    return payload, f"{payload['message']} ({payload['sessionId']}, {payload['method']})"


def dlq_list(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "GET", "/api/webhooks/dlq")
    rows = [{**m, "lastError": str(m.get("lastError", ""))[:60]} for m in payload["messages"]]
    return payload, table(
        rows, ("id", "attempts", "lastStatus", "lastError")
    ) + f"\n({payload['count']} dead)"


def dlq_redrive(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    payload = call(t, "POST", "/api/webhooks/dlq/redrive", {"ids": a.ids} if a.ids else {})
    return payload, payload["message"]


ENDPOINT_COLUMNS = ("name", "health", "downSeconds", "lastError", "failingSince", "recoveredAt")


def webhook_status(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    """The counters, then each endpoint's health, then the retry schedule."""
    payload = call(t, "GET", "/openvidu/webhook/status")
    text = pairs(payload)
    if payload.get("endpoints"):
        text += "\n\n" + table(payload["endpoints"], ENDPOINT_COLUMNS)
    if payload.get("retrySchedule"):
        text += "\n\nretry schedule  " + ", ".join(payload["retrySchedule"])
    return payload, text


def migrate_queue(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    """An upgrade's step: an old standard webhook queue into the FIFO queue, in order per recording."""
    import boto3

    import local  # noqa: F401 - puts functions/ on the path
    from hacore.webhooks.migrate import describe, migrate

    region = a.region or os.environ.get("AWS_REGION") or "us-east-1"
    target = a.to or (_stack_output(a.stack, region, "WebhookQueueUrl") if a.stack else None)
    if not target:
        why = "name the FIFO queue with --to (or --stack NAME)"
        raise Refused(0, {"error": why}, f"ovha: {why}")
    try:
        report = migrate(boto3.client("sqs", region_name=region), a.source, target, dry_run=a.dry_run)
    except ValueError as error:
        raise Refused(0, {"error": str(error)}, f"ovha: {error}") from None
    return report.summary() | {"dryRun": a.dry_run, "to": target}, describe(report, a.dry_run)


def _stack_output(stack: str, region: str, name: str) -> str | None:
    import boto3

    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    return outputs.get(name)


def validate(t: Target, a: argparse.Namespace) -> tuple[Any, str]:
    """The configuration in this environment, checked as the functions would read it."""
    import local  # noqa: F401 - puts functions/ on the path
    from hacore.config_check import check, report_lines

    settings, problems, notes = check(os.environ)
    payload = {"valid": not problems, "problems": problems, "notes": notes}
    text = "\n".join(report_lines(settings, problems, notes))
    if problems:
        raise Refused(0, payload, text)
    return payload, text


Command = Callable[[Target, argparse.Namespace], tuple[Any, str]]


GLOBAL_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--url", {"help": "the controller's address (default: $OVHA_URL, else the local stack)"}),
    ("--user", {"help": "default: $HA_CONTROLLER_USERNAME"}),
    ("--password", {"help": "default: $HA_CONTROLLER_PASSWORD"}),
    ("--stack", {"help": "a deployed stack: its ApiUrl and generated credentials (default: $OVHA_STACK)"}),
    ("--region", {"help": "the stack's region (default: $AWS_REGION)"}),
    ("--json", {"action": "store_true", "help": "print the API's JSON, for scripts"}),
)


def global_options(defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes, anywhere on the line (`ovha sessions list --json` as well as
    `ovha --json sessions list`): the root's set the defaults, each command's only what is given."""
    options = argparse.ArgumentParser(
        add_help=False, argument_default=None if defaults else argparse.SUPPRESS
    )
    for flag, settings in GLOBAL_OPTIONS:
        options.add_argument(flag, **settings)
    return options


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="ovha",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[global_options(defaults=True)],
    )
    anywhere = [global_options(defaults=False)]
    topics = root.add_subparsers(dest="topic", required=True)

    def verb(
        group: argparse._SubParsersAction, name: str, run: Command, text: str
    ) -> argparse.ArgumentParser:
        command = group.add_parser(name, help=text, description=text, parents=anywhere)
        command.set_defaults(run=run)
        return command

    sessions = topics.add_parser("sessions", help="recording sessions", parents=anywhere).add_subparsers(
        dest="verb", required=True
    )
    verb(sessions, "list", sessions_list, "the active sessions (--all: every one)").add_argument(
        "--all", action="store_true"
    )
    verb(sessions, "get", sessions_get, "one session, with its failovers").add_argument("session")
    verb(
        sessions, "handover", handover, "hand a recording to a new recorder, make-before-break (no gap)"
    ).add_argument("session")
    verb(topics, "takeover", takeover, "take a session over now (a manual failover)").add_argument("session")
    hosts = topics.add_parser("hosts", help="media nodes", parents=anywhere).add_subparsers(
        dest="action", required=True
    )
    verb(
        hosts, "drain", hosts_drain, "hand a node's live recordings over, a few at a time, until it is empty"
    ).add_argument("host", help="the node's name (clientHost) or its EC2 instance id")
    verb(hosts, "show", hosts_show, "a node's live recordings, and its drain").add_argument("host")
    failover = topics.add_parser("failover", help="the failover engine", parents=anywhere).add_subparsers(
        dest="verb", required=True
    )
    verb(failover, "status", failover_status, "timeouts, the launcher's health, the storm guard")
    backups = topics.add_parser("backups", help="backup recorders", parents=anywhere).add_subparsers(
        dest="verb", required=True
    )
    verb(backups, "list", backups_list, "the backup recorders running")
    stopping = verb(backups, "stop", backups_stop, "stop a session's backup (gracefully; --force: at once)")
    stopping.add_argument("session")
    stopping.add_argument("--force", action="store_true")
    dlq = topics.add_parser("dlq", help="the webhook dead-letter queue", parents=anywhere).add_subparsers(
        dest="verb", required=True
    )
    verb(dlq, "list", dlq_list, "the dead-lettered webhooks, with their last error")
    verb(
        dlq, "redrive", dlq_redrive, "move dead-lettered webhooks back for delivery (all, or these ids)"
    ).add_argument("ids", nargs="*")
    webhook = topics.add_parser("webhook", help="webhook delivery", parents=anywhere).add_subparsers(
        dest="verb", required=True
    )
    verb(webhook, "status", webhook_status, "delivery counters, queue and dead-letter depth")
    moving = verb(
        webhook,
        "migrate-queue",
        migrate_queue,
        "move an old standard webhook queue into the FIFO queue, in order per recording (idempotent)",
    )
    moving.add_argument("--from", dest="source", required=True, help="the old standard queue's URL")
    moving.add_argument("--to", help="the FIFO queue's URL (default: the --stack's WebhookQueueUrl output)")
    moving.add_argument("--dry-run", action="store_true", help="count what would move; move nothing")
    verb(topics, "validate", validate, "check the configuration in this environment")
    return root


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        target = resolve_target(arguments, dict(os.environ if environ is None else environ))
        payload, text = arguments.run(target, arguments)
    except Refused as refusal:
        print(json.dumps(refusal.payload, indent=2) if arguments.json else _refusal(refusal), file=sys.stderr)
        return EXIT_REFUSED
    except requests.RequestException as error:
        print(f"ovha: cannot reach the controller: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(json.dumps(payload, indent=2) if arguments.json else text)
    return 0


def _refusal(refusal: Refused) -> str:
    if refusal.text is not None:
        return refusal.text
    payload = refusal.payload if isinstance(refusal.payload, dict) else {}
    return f"ovha: HTTP {refusal.status}: {payload.get('error', payload)}"


if __name__ == "__main__":
    sys.exit(main())
