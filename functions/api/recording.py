"""What the console's recording page reads beside the session: the manifest the finalizer wrote
(the timeline, gaps, still spans, logs), links to the final file and every log, and what became
of each of the recording's webhooks (`hacore.webhooks.journal`). Read-only, and nothing here is
on a recorder's path: the S3 and DynamoDB clients are made on the first call."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from botocore.exceptions import ClientError
from pydantic import BaseModel

from api.documented import declared
from api.sessions import SessionId
from hacore import aws
from hacore.chunks import manifest_key
from hacore.errors import DomainError
from hacore.models import iso
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.webhooks.journal import Delivery, Journal

TAGS = ["sessions"]
LINK_S = 900  # a link to the final file or a log: long enough to open, short enough to leak little


class NotFinalized(DomainError):
    """The session exists; no recorder has finalized it yet (no manifest in S3)."""

    status_code = 404


class ManifestReply(BaseModel):
    sessionId: str
    manifest: dict[str, Any]
    final: str | None  # a link to the final file (presigned, LINK_S), None: not in S3
    logs: dict[str, str]  # each log's key -> a link to it
    timestamp: str


class WebhookJournal(BaseModel):
    sessionId: str
    webhooks: list[Delivery]
    count: int
    timestamp: str


@dataclass
class RecordingFiles:
    """The S3 side: built on the first call."""

    settings: Settings
    _s3: Any = field(default=None, repr=False)

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3", self.settings.region, self.settings.s3_endpoint)
        return self._s3

    def manifest(self, session_id: str) -> dict[str, Any] | None:
        if not self.settings.s3_bucket:
            return None
        try:
            reply = self.s3.get_object(Bucket=self.settings.s3_bucket, Key=manifest_key(session_id))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        loaded: dict[str, Any] = json.loads(reply["Body"].read())
        return loaded

    def link(self, bucket: str, key: str) -> str:
        return str(
            self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=LINK_S
            )
        )


def add_recording_routes(
    app: APIGatewayHttpResolver,
    store: SessionStore,
    files: RecordingFiles,
    journal: Callable[[], Journal],
    clock: Callable[[], float],
) -> None:
    @app.get(
        "/api/sessions/<sessionId>/manifest",
        tags=TAGS,
        summary="The finalized recording: its manifest, and links to its file and logs",
        responses=declared(refusals={404: "Unknown session, or not finalized yet"}),
    )
    def manifest(sessionId: SessionId) -> ManifestReply:
        store.get(sessionId)  # an unknown session: 404 as everywhere
        found = files.manifest(sessionId)
        if found is None:
            raise NotFinalized(f"Session {sessionId} is not finalized yet: no manifest in S3")
        bucket = found.get("bucket") or files.settings.s3_bucket or ""
        return ManifestReply(
            sessionId=sessionId,
            manifest=found,
            final=files.link(bucket, found["final"]) if found.get("final") else None,
            logs={key: files.link(bucket, key) for key in found.get("logs", [])},
            timestamp=iso(clock()) or "",
        )

    @app.get(
        "/api/sessions/<sessionId>/webhooks",
        tags=TAGS,
        summary="The recording's webhooks in the order they came, with what became of each",
        responses=declared(refusals={404: "Unknown session"}),
    )
    def webhooks(sessionId: SessionId) -> WebhookJournal:
        store.get(sessionId)
        deliveries = journal().of(sessionId)
        return WebhookJournal(
            sessionId=sessionId, webhooks=deliveries, count=len(deliveries), timestamp=iso(clock()) or ""
        )
