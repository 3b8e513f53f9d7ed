"""The chunks a session has in S3: `s3://$HA_AWS_S3_BUCKET/$VIDEO_ID/chunks/NNNN.mp4`."""

from __future__ import annotations

import re
from typing import Any

CHUNK_KEY = re.compile(r"/chunks/(\d+)\.[A-Za-z0-9]+$")


def chunk_prefix(session_id: str) -> str:
    return f"{session_id}/chunks/"


class ChunkIndex:
    def __init__(self, s3: Any, bucket: str | None) -> None:
        self._s3 = s3
        self._bucket = bucket

    def newest(self, session_id: str) -> int | None:
        """The highest chunk number stored for the session, or None (also with no bucket configured)."""
        if not self._bucket:
            return None
        newest = None
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=chunk_prefix(session_id)):
            for item in page.get("Contents", []):
                match = CHUNK_KEY.search(item["Key"])
                if match:
                    index = int(match.group(1))
                    newest = index if newest is None else max(newest, index)
        return newest
