"""The checks on a drill's final file: it decodes end to end, lasts what its chunks add up to,
plays no instant twice and none out of order, leaves out nothing a recorder stored, has sound,
and shows no still or black span over LOST_SPAN_S (lost media, as a gap between recorders is)."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

from local.drill.probes import Probes
from local.drill.stack import BUCKET

LOST_SPAN_S = 2.0  # a still or black span longer than this is lost media
# Finalize treats chunks closer than 0.05 s as touching; a chunk's wall-clock start is ffmpeg's
# launch time plus its position, good to about a frame.
OVERLAP_TOLERANCE_S = 0.1
STILL = re.compile(r"lavfi\.freezedetect\.freeze_duration: (\d+(?:\.\d+)?)")
BLACK = re.compile(r"black_duration:(\d+(?:\.\d+)?)")
VOLUME = re.compile(r"mean_volume: (-?\d+(?:\.\d+)?) dB")
SILENCE = re.compile(r"silence_duration: (\d+(?:\.\d+)?)")


def verify(probes: Probes, workdir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The final file, downloaded and judged (see the module doc)."""
    final = workdir / f"{probes.video_id}.mp4"
    probes.s3.download_file(BUCKET, manifest["final"], str(final))
    decode = subprocess.run(
        # the decoder's own timestamps (`-enc_time_base -1`): a captured screen's frame rate
        # varies a little, and rounding it to a guessed constant rate would report two frames
        # in one tick, a fault of the check, not of the file
        ["ffmpeg", "-v", "error", "-i", str(final), "-enc_time_base", "-1", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(final)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    duration = float(probe.stdout.strip() or 0)
    content = content_report(final)
    indices = [c["index"] for c in manifest["chunks"]]
    included = [c["index"] for c in manifest["chunks"] if c["included"]]
    reported_missing = {i for gap in manifest["gaps"] for i in gap["missingChunks"]}
    actually_missing = set(range(min(indices), max(indices) + 1)) - set(indices) if indices else set()
    recorder_gaps = [g["seconds"] for g in manifest["gaps"] if g["fromEpoch"] != g["toEpoch"]]
    expected_time = sum(c["playedSeconds"] or 0 for c in manifest["chunks"] if c["included"])
    timeline = timeline_report(manifest, probes.stored_spans())
    checks = {
        "plays_end_to_end": decode.returncode == 0 and not decode.stderr.strip(),
        "duration_matches": abs(duration - expected_time) < 1.5,
        # what the file plays, placed by each chunk's own wall clock (read from S3 here)
        "no_instant_twice": timeline["overlap_s"] <= OVERLAP_TOLERANCE_S,
        "in_time_order": timeline["reordered"] == 0,
        "nothing_stored_left_out": timeline["left_out_s"] <= OVERLAP_TOLERANCE_S,
        "missing_only_in_reported_gap": actually_missing <= reported_missing,
        "one_final_file": bool(manifest["final"]),
        "has_sound": content["mean_volume_db"] is not None and content["mean_volume_db"] > -50,
    }
    ok, chunks = all(checks.values()), manifest["chunks"]
    gap_lost = sum(g for g in recorder_gaps if g is not None and g > 0)
    return {
        "ok": ok,
        "lost_s": round(gap_lost + content["still_s"], 2),
        "still_spans_s": content["still_spans_s"],
        "still_over_half_second_s": content["glitch_s"],
        "silent_over_half_second_s": content["silent_s"],
        "mean_volume_db": content["mean_volume_db"],
        "stack_still_spans": manifest.get("stillSpans", []),
        "gap_s": round(sum(g for g in recorder_gaps if g is not None), 2)
        if recorder_gaps
        else round(max([g["seconds"] or 0 for g in manifest["gaps"]] or [0]), 2),
        "duration_s": round(duration, 2),
        "chunks_total_s": round(expected_time, 2),
        "chunks": len(included),
        "excluded": manifest["excluded"],
        "epochs": manifest["epochs"],
        "overlap_s": timeline["overlap_s"],
        "reordered": timeline["reordered"],
        "left_out_s": timeline["left_out_s"],
        "overlap_dropped_s": manifest.get("overlapSeconds", 0.0),
        "checks": checks,
        "decode_errors": decode.stderr.strip()[:300] or None,
        # on a failure, what the manifest says of each chunk: [index, epoch, seconds]
        **({} if ok else {"manifest_chunks": [[c["index"], c["epoch"], c["duration"]] for c in chunks]}),
    }


def timeline_report(
    manifest: dict[str, Any], stored: dict[tuple[int, int], tuple[float, float]]
) -> dict[str, Any]:
    """What the final file plays, in the wall-clock time each recorder stamped on its chunks:
    seconds played twice (`overlap_s`), steps back in time (`reordered`), and seconds some
    recorder stored that the file leaves out (`left_out_s`). The manifest gives the file's order
    and how much of each chunk plays (the file's duration is checked against that); the times
    come from S3, not from the manifest."""
    played = {(c["index"], c["epoch"]): c["playedSeconds"] for c in manifest["chunks"] if c["included"]}
    spans = []
    for index, epoch in manifest.get("timeline") or []:
        start, _ = stored[(index, epoch)]
        spans.append((start, start + (played.get((index, epoch)) or 0.0)))
    reordered = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[0] - OVERLAP_TOLERANCE_S)
    overlap, reach = 0.0, None
    for start, end in spans:
        if reach is not None and start < reach:
            overlap += min(reach, end) - start
        reach = end if reach is None else max(reach, end)
    left_out = 0.0
    merged = _union(spans)
    unreadable = {
        (c["index"], c["epoch"]) for c in manifest["chunks"] if "unreadable" in (c["problem"] or "")
    }
    for key, (start, duration) in stored.items():
        if key not in unreadable:  # reported as excluded, and counted as such
            left_out += duration - _covered_by(merged, start, start + duration)
    return {"overlap_s": round(overlap, 3), "reordered": reordered, "left_out_s": round(left_out, 3)}


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1e-6:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _covered_by(merged: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in merged)


def content_report(final: Path) -> dict[str, Any]:
    """Still or black spans over LOST_SPAN_S (freezedetect, blackdetect) and the mean volume."""
    run = subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-i", str(final)),
            *("-vf", f"freezedetect=n=-60dB:d={LOST_SPAN_S},blackdetect=d={LOST_SPAN_S}"),
            *("-af", "volumedetect", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    glitches = subprocess.run(  # the short ones too, for the record: what a viewer would notice
        [
            *("ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-i", str(final)),
            *("-vf", "freezedetect=n=-60dB:d=0.5", "-af", "silencedetect=n=-50dB:d=0.5", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    spans = [float(x) for x in STILL.findall(run.stderr)] + [float(x) for x in BLACK.findall(run.stderr)]
    volume = VOLUME.search(run.stderr)
    # a black picture is also still: count a span once, the longer reading
    still = max(
        sum(float(x) for x in STILL.findall(run.stderr)), sum(float(x) for x in BLACK.findall(run.stderr))
    )
    return {
        "still_spans_s": [round(x, 2) for x in spans],
        "still_s": round(still, 2),
        "glitch_s": round(sum(float(x) for x in STILL.findall(glitches.stderr)), 2),
        "silent_s": round(sum(float(x) for x in SILENCE.findall(glitches.stderr)), 2),  # over 0.5 s
        "mean_volume_db": float(volume.group(1)) if volume else None,
    }
