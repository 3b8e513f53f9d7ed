"""What a failed drill run leaves behind, kept for the engineer who has to explain it: the run's
own folder (the final file, the containers' logs) and everything S3 holds of its recordings (each
recorder's chunks with their metadata, logs, health, the manifest). A drill's stack is a scratch
folder and an in-memory moto, both gone when the drill ends: a one-in-ten anomaly otherwise
leaves nothing to look at."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from local.drill.stack import BUCKET, DrillStack


def video_ids(result: dict[str, Any]) -> list[str]:
    """The recordings a result line names (one, or a drain's several)."""
    named = [result.get("video_id")] + [r.get("video_id") for r in result.get("recordings", [])]
    return [video_id for video_id in named if video_id]


def keep_failed(stack: DrillStack, run_dir: Path, result: dict[str, Any], into: Path) -> Path:
    """Copies the run into `into/run-N` and returns where."""
    kept = into / f"run-{result.get('run', run_dir.name)}"
    shutil.copytree(run_dir, kept, dirs_exist_ok=True, ignore_dangling_symlinks=True)
    (kept / "result.json").write_text(json.dumps(result, indent=2))
    s3 = stack.client("s3")
    for video_id in video_ids(result):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{video_id}/"):
            for item in page.get("Contents", []):
                target = kept / "s3" / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                reply = s3.get_object(Bucket=BUCKET, Key=item["Key"])
                target.write_bytes(reply["Body"].read())
                if reply.get("Metadata"):
                    target.with_name(target.name + ".metadata.json").write_text(json.dumps(reply["Metadata"]))
    return kept
