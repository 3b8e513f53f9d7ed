"""schemathesis against the local stack: the OpenAPI document must tell the truth.

Every check runs (status codes, bodies and content types as documented, valid requests accepted,
invalid ones refused, 405 with `Allow` for a method no route takes, no 5xx, auth not ignored), on a
fixed seed and a bounded number of examples per operation, so that the run is repeatable and quick.
The few replies added to the checks' default lists are in schemathesis.toml, each with its reason.

The stack under fuzz has its own data, and its takeovers launch `sleep` instead of a recorder: the
fuzzer takes sessions over by the hundred, and this test is about the API, not about recording.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import RunningStack, start_stack, stop_stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261126
EXAMPLES = 30  # per operation and phase: about 1,000 requests in all


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    tmp = tmp_path_factory.mktemp("fuzz")
    running = start_stack(
        tmp,
        {
            "APP_PROCESS_BACKUP_COMMAND": "sleep 300",
            "APP_PROCESS_STATE_DIR": str(tmp / "backups"),
        },
    )
    yield running
    stop_stack(running)


def test_the_api_answers_as_its_openapi_document_says(fuzzed_stack: RunningStack, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    user, password = fuzzed_stack.auth
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run"),
        f"{fuzzed_stack.url}/v3/api-docs",
        *("--auth", f"{user}:{password}", "--checks", "all", "--seed", str(SEED)),
        *("--max-examples", str(EXAMPLES), "--workers", "1", "--generation-database", "none"),
        *("--no-color", "--report", "json", "--report-json-path", str(report)),
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert report.exists(), run.stdout + run.stderr
    result = json.loads(report.read_text())
    cases, operations = result["test_cases"], result["operations"]
    print(
        f"schemathesis {result['schemathesis_version']}, seed {SEED}: {cases['generated']} requests "
        f"over {operations['tested']} operations, {cases['unique_failures']} findings, "
        f"{len(result['errors'])} errors, {result['running_time']:.1f} s"
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert (result["failures"], result["errors"]) == ([], [])
    assert operations["tested"] == operations["total"] >= 28
    assert cases["generated"] >= 500  # a run that generated nothing would pass vacuously
    warnings = result["warnings"]
    # a pattern or a reference schemathesis could not use would leave part of the document untested
    assert (warnings["unsupported_regex"], warnings["unresolvable_reference"]) == ([], [])


def test_the_fuzzed_stack_stayed_healthy(fuzzed_stack: RunningStack) -> None:
    """After the fuzz: the stack still answers, and its log holds no handler failure."""
    assert requests.get(f"{fuzzed_stack.url}/actuator/health", timeout=5).json()["status"] == "UP"
    assert "Traceback" not in fuzzed_stack.output(), fuzzed_stack.output()[-4000:]
