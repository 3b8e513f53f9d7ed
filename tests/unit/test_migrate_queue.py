"""`ovha webhook migrate-queue`: an old standard webhook queue into the FIFO queue, each
recording in its order, idempotent, with counts; nothing that is not a webhook is dropped."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hacore.webhooks.ingest import Envelope
from hacore.webhooks.migrate import migrate
from local import ovha


@pytest.fixture
def queues() -> Iterator[tuple[Any, str, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        old = sqs.create_queue(QueueName="old-webhooks")["QueueUrl"]
        fifo = sqs.create_queue(
            QueueName="webhooks.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
        )["QueueUrl"]
        yield sqs, old, fifo


def fill(sqs: Any, old: str) -> list[Envelope]:
    """Three recordings' webhooks, as a standard queue holds them: out of order, some from a
    version that wrote no message group; and one message that is not a webhook at all."""
    envelopes = []
    for n, (recording, seq) in enumerate((r, s) for s in range(3) for r in ("rec-a", "rec-b", "rec-c")):
        body = json.dumps(
            {"event": "recordingStatusChanged", "id": recording, "status": "started", "seq": seq}
        )
        group = f"customer/rec:{recording}" if n % 2 else None
        envelopes.append(
            Envelope(f"w{n}", 1000.0 + n, "POST", "application/json", body, False, "customer", True, group)
        )
    for envelope in random.Random(3).sample(envelopes, len(envelopes)):
        sqs.send_message(QueueUrl=old, MessageBody=envelope.to_message())
    sqs.send_message(QueueUrl=old, MessageBody="not a webhook")
    return envelopes


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"], WaitTimeSeconds=0
    ).get("Messages", []):
        for message in messages:
            got.append(
                {"body": message["Body"], "group": message.get("Attributes", {}).get("MessageGroupId")}
            )
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return got


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = ovha.main(["--json", "webhook", "migrate-queue", *args], environ={})
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else None, captured.err


def test_each_recording_moves_in_its_order_and_the_counts_are_reported(
    queues: tuple[Any, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, old, fifo = queues
    fill(sqs, old)
    code, report, _ = run(capsys, "--from", old, "--to", fifo)
    assert code == 0
    assert (report["moved"], report["recordings"], report["unreadableLeft"]) == (9, 3, 1)
    moved = drain(sqs, fifo)
    by_group: dict[str, list[int]] = {}
    for message in moved:
        envelope = Envelope.from_message(message["body"])
        assert message["group"] == envelope.group  # the group the ingest gives it today
        by_group.setdefault(envelope.group or "", []).append(json.loads(envelope.body)["seq"])
    assert by_group == {f"customer/rec:{r}": [0, 1, 2] for r in ("rec-a", "rec-b", "rec-c")}
    (left,) = drain(sqs, old)
    assert left["body"] == "not a webhook"  # not dropped: left where it was, and counted


def test_a_second_run_moves_nothing_more(
    queues: tuple[Any, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, old, fifo = queues
    fill(sqs, old)
    assert run(capsys, "--from", old, "--to", fifo)[1]["moved"] == 9
    again = run(capsys, "--from", old, "--to", fifo)[1]
    assert (again["moved"], again["unreadableLeft"]) == (0, 1)
    assert len(drain(sqs, fifo)) == 9


class DiesAfterSends:
    """The operator's machine dies after `sends` sends, before the last one's delete."""

    def __init__(self, sqs: Any, sends: int) -> None:
        self._sqs, self._left = sqs, sends

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def delete_message(self, **kwargs: Any) -> Any:
        if self._left <= 0:
            raise KeyboardInterrupt("killed")
        return self._sqs.delete_message(**kwargs)

    def send_message(self, **kwargs: Any) -> Any:
        self._left -= 1
        return self._sqs.send_message(**kwargs)


def test_an_interrupted_run_run_again_queues_nothing_twice(queues: tuple[Any, str, str]) -> None:
    sqs, old, fifo = queues
    fill(sqs, old)
    with pytest.raises(KeyboardInterrupt):
        migrate(DiesAfterSends(sqs, 4), old, fifo, hold_s=1)
    time.sleep(1.2)  # what the dead run held comes back to the old queue
    second = migrate(sqs, old, fifo)
    assert second.moved == 6  # the fourth was sent and not deleted: sent again, and deduplicated
    ids = [Envelope.from_message(m["body"]).id for m in drain(sqs, fifo)]
    assert sorted(ids) == sorted(f"w{n}" for n in range(9))  # each once


def test_a_dry_run_counts_and_moves_nothing(
    queues: tuple[Any, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, old, fifo = queues
    fill(sqs, old)
    code, report, _ = run(capsys, "--from", old, "--to", fifo, "--dry-run")
    assert (code, report["moved"], sum(report["perRecording"].values())) == (0, 0, 9)
    assert drain(sqs, fifo) == []
    assert len(drain(sqs, old)) == 10


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--to", "https://sqs.us-east-1.amazonaws.com/123456789012/plain"], "is not a FIFO queue"),
        ([], "name the FIFO queue with --to"),
    ],
)
def test_a_wrong_target_is_refused_with_the_reason(
    queues: tuple[Any, str, str], capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    _, old, _ = queues
    code, _, err = run(capsys, "--from", old, *args)
    assert code == ovha.EXIT_REFUSED
    assert says in err
