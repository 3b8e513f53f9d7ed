"""The summary line after several runs: what held, and the figures' percentiles."""

from __future__ import annotations

import os
from typing import Any

from local.stats import percentile


def summary(results: list[dict], timing: str, mode: str) -> dict[str, Any]:
    terminals = [r.get("customer_terminal", {}) for r in results]

    def of(key: str, share: float) -> float | None:
        return percentile([r[key] for r in results if r.get(key) is not None], share * 100)

    def p95(key: str) -> float | None:
        return of(key, 0.95)

    return {
        "summary": True,
        "timing": timing,
        "mode": mode,
        "runs": len(results),
        "standby_pool_size": int(os.environ.get("APP_STANDBY_POOL_SIZE") or 0),
        "launch_delay_s": float(os.environ.get("APP_PROCESS_LAUNCH_DELAY") or 0),
        "ok_runs": sum(1 for r in results if r.get("ok")),
        "openvidu_status": sorted({r.get("openvidu_status") for r in results if r.get("openvidu_status")}),
        "customer_ready_complete": sum(
            1 for t in terminals if t.get("status") == "ready" and t.get("complete")
        ),
        "gap_p50_s": of("gap_s", 0.5),
        "gap_p95_s": p95("gap_s"),
        "launch_p50_s": of("launch_s", 0.5),
        "launch_p95_s": p95("launch_s"),
        "standby_takeovers": sum(1 for r in results if r.get("standby")),
        "relaunch_max_s": max(
            (r["relaunch_s"] for r in results if r.get("relaunch_s") is not None), default=None
        ),
        "detect_p95_s": p95("detect_s"),
        "claim_p95_s": p95("claim_s"),
        "backup_first_chunk_p95_s": p95("backup_first_chunk_s"),
        "gap_max_s": max(
            (g for r in results if (g := r.get("gap_s", r.get("gap_max_s"))) is not None), default=None
        ),
        # the control-plane modes: every recording of every run, and its file
        "recordings_ok": sum(1 for r in results for f in r.get("recordings", []) if f.get("ok")),
        "recordings": sum(len(r.get("recordings", [])) for r in results),
        "lost_p50_s": of("lost_s", 0.5),
        "lost_p95_s": of("lost_s", 0.95),
        "lost_max_s": max((r["lost_s"] for r in results if r.get("lost_s") is not None), default=None),
        "takeovers": [r.get("takeovers") for r in results],
        "overlap_max_s": max(
            (r["overlap_s"] for r in results if r.get("overlap_s") is not None), default=None
        ),
        "reordered": sum(r.get("reordered") or 0 for r in results),
        "fenced_exit_max_s": max(
            (r["fenced_exit_s"] for r in results if r.get("fenced_exit_s") is not None), default=None
        ),
    }
