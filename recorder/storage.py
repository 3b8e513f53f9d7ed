"""Chunks and final files in S3, written once, never overwritten.

A chunk's key carries the epoch of the recorder that wrote it (`$VIDEO_ID/chunks/NNNN-eE.mp4`):
a recorder cut off from the controller but not from S3 keeps uploading while its backup
records the same chunk numbers, and neither can shadow the other; finalize builds one
timeline from the chunks' wall-clock starts. Keys without an epoch (`NNNN.mp4`, the
original's) are still read. A takeover leaves a fence marker (`$VIDEO_ID/fence/eE`, E the new
epoch): a recorder looks for the one above its own before each upload, so it learns it is
fenced even when the controller cannot tell it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from recorder.capture import Chunk
from recorder.config import AgentConfig
from recorder.layout import chunk_key, chunk_prefix, fence_key, health_key, health_prefix
from recorder.supervisor import backoff

log = logging.getLogger("recorder.storage")
FETCHERS = 8  # chunks fetched (and heads read) at once at finalize
UPLOAD_RETRY_MAX_S = 30.0


class AlreadyStored(Exception):
    """Another recorder stored this chunk number first (a conditional put said 412)."""


class ChunkStorage:
    def __init__(self, config: AgentConfig, s3: Any | None = None) -> None:
        self.config = config
        self.s3 = s3 or boto3.client(
            "s3",
            endpoint_url=config.s3_endpoint or None,
            region_name=config.s3_region or None,
            aws_access_key_id=config.s3_access_key or None,
            aws_secret_access_key=config.s3_secret_key or None,
            config=Config(
                connect_timeout=3,
                read_timeout=30,
                retries={"mode": "standard", "max_attempts": 3},
                max_pool_connections=FETCHERS * 2,
            ),
        )

    def key_of(self, chunk: Chunk) -> str:
        return chunk_key(self.config.video_id, chunk.index, self.config.epoch)

    def put_chunk(self, chunk: Chunk) -> None:
        """Write-once: If-None-Match makes S3 refuse a second write of the key (this epoch's chunk)."""
        try:
            with chunk.path.open("rb") as body:
                self.s3.put_object(
                    Bucket=self.config.bucket,
                    Key=self.key_of(chunk),
                    Body=body,
                    IfNoneMatch="*",
                    ContentType="video/mp4",
                    Metadata={
                        "epoch": str(self.config.epoch),
                        "wallclock-start": f"{chunk.wallclock_start:.3f}",
                        "duration": f"{chunk.duration:.3f}",
                        "recorder": self.config.hostname,
                    },
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                raise AlreadyStored(self.key_of(chunk)) from None
            raise

    def fenced(self) -> bool:
        """Has a takeover claimed the session for a newer epoch? One HEAD of the next epoch's fence.
        S3 unreachable: False (cannot tell); the controller's 409 still fences this recorder."""
        try:
            self.s3.head_object(
                Bucket=self.config.bucket, Key=fence_key(self.config.video_id, self.config.epoch + 1)
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code"))
            if code not in ("404", "NoSuchKey", "NotFound"):
                log.warning("could not read the fence marker (%s): uploading on", code)
            return False
        except BotoCoreError as error:
            log.warning("could not read the fence marker (%s): uploading on", error)
            return False
        return True

    def objects(self, prefix: str) -> list[dict[str, Any]]:
        items = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix):
            items.extend(page.get("Contents", []))
        return items

    def list_chunks(self) -> list[dict[str, Any]]:
        return self.objects(chunk_prefix(self.config.video_id))

    def keys(self, prefix: str) -> list[str]:
        return sorted(item["Key"] for item in self.objects(prefix))

    def health_reports(self) -> list[dict[str, Any]]:
        """What each recorder wrote of its capture stack (`<id>/health/e<epoch>.json`)."""
        reports = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.config.bucket, Prefix=health_prefix(self.config.video_id)):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.config.bucket, Key=item["Key"])["Body"].read()
                reports.append(json.loads(body))
        return reports

    def put_health(self, report: dict[str, Any]) -> None:
        key = health_key(self.config.video_id, self.config.epoch)
        self.put_bytes(json.dumps(report).encode(), key, "application/json")

    def head(self, key: str) -> dict[str, str]:
        return self.s3.head_object(Bucket=self.config.bucket, Key=key).get("Metadata", {})

    def download(self, key: str, path: Path) -> None:
        self.s3.download_file(self.config.bucket, key, str(path))

    def put_file(self, path: Path, key: str, content_type: str) -> None:
        self.s3.upload_file(str(path), self.config.bucket, key, ExtraArgs={"ContentType": content_type})

    def put_file_before(self, path: Path, key: str, content_type: str, deadline: float) -> bool:
        """Uploads unless the deadline (monotonic) passes first: OpenVidu's 30 s outrank a long
        upload. False: not stored (an unfinished multipart upload is aborted by the bucket's
        lifecycle rule), and a finalizer task stores it from the chunks instead."""
        done = threading.Event()
        failure: list[BaseException] = []

        def upload() -> None:
            try:
                self.put_file(path, key, content_type)
            except BaseException as error:
                failure.append(error)
            finally:
                done.set()

        threading.Thread(target=upload, name=f"upload-{path.name}", daemon=True).start()
        if not done.wait(max(0.0, deadline - time.monotonic())):
            log.warning("%s is not in S3 yet and the stop budget is spent: leaving it to a finalizer", key)
            return False
        if failure:
            log.error("upload of %s failed: %s", key, failure[0])
            return False
        return True

    def put_bytes(self, data: bytes, key: str, content_type: str) -> None:
        self.s3.put_object(Bucket=self.config.bucket, Key=key, Body=data, ContentType=content_type)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            self.s3.delete_objects(
                Bucket=self.config.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]},
            )


class Uploader:
    """Uploads closed chunks in order; a failed upload stays on disk and is retried with backoff.
    Before uploading, it asks `allowed` (the fence check): a fenced recorder uploads nothing more."""

    def __init__(self, storage: ChunkStorage) -> None:
        self.storage = storage
        self.pending: dict[int, Chunk] = {}
        self.stored: list[int] = []
        self._retry_at: dict[int, float] = {}
        self._attempts: dict[int, int] = {}

    @property
    def newest_stored(self) -> int | None:
        return max(self.stored) if self.stored else None

    def add(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            self.pending[chunk.index] = chunk

    def upload_due(self, allowed: Callable[[], bool] = lambda: True) -> None:
        now = time.monotonic()
        due = [index for index in sorted(self.pending) if self._retry_at.get(index, 0) <= now]
        if not due or not allowed():
            return
        for index in due:
            chunk = self.pending[index]
            try:
                self.storage.put_chunk(chunk)
            except AlreadyStored:  # an earlier attempt of ours landed, its reply did not
                log.info("chunk %04d of epoch %s was stored already", index, self.storage.config.epoch)
            except (ClientError, BotoCoreError, OSError) as error:
                attempts = self._attempts.get(index, 0) + 1
                self._attempts[index] = attempts
                delay = backoff(attempts + 1, cap=UPLOAD_RETRY_MAX_S, jitter=True)
                self._retry_at[index] = now + delay
                log.warning("upload of chunk %04d failed (%s); retry in %.1fs", index, error, delay)
                continue
            self.stored.append(index)
            del self.pending[index]
            # The local copy stays until the final file exists: finalize joins it without a download.

    def drain(self, deadline: float, allowed: Callable[[], bool] = lambda: True) -> None:
        """Keeps trying until nothing is pending or the deadline passes (graceful stop)."""
        while self.pending and time.monotonic() < deadline:
            self.upload_due(allowed)
            if self.pending:
                time.sleep(0.5)
