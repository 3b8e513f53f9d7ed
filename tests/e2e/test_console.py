"""The operator console in a real browser (Debian's chromium, driven by playwright), against a
local stack with a drill's recording: a recorder SIGKILLed mid-recording, taken over, finalized
from two recorders with a gap. The fleet page lists the recording, its page draws both epochs
and the gap the drill measured to scale, an action works and a refusal is shown, the actions are
reachable by keyboard, and a phone's width needs no sideways scrolling. Screenshots of both pages
go to docs/screenshots/ (the README links them)."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import ROOT
from local.drill.probes import wait
from local.drill.run import Run
from local.drill.stack import DrillStack, start_stack, stop_stack

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or shutil.which("ffmpeg") is None, reason="chromium and ffmpeg (make installs them)"
)
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DrillStack, dict[str, Any]]]:
    stack = start_stack(tmp_path_factory.mktemp("console"), "fast")
    try:
        result = Run(stack, tmp_path_factory.mktemp("kill"), "kill", random.Random(5)).execute()
        assert result["ok"], json.dumps(result, default=str)
        assert result["epochs"] == [1, 2]
        yield stack, result
    finally:
        stop_stack(stack)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def open_page(browser: Any, stack: DrillStack, width: int = 1280, height: int = 720) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": height},
        http_credentials={"username": stack.auth[0], "password": stack.auth[1]},
    )
    return context.new_page()


def ready(page: Any, name: str) -> None:
    page.wait_for_selector(f"main[data-ready='{name}']", timeout=15_000)


def test_the_fleet_lists_the_recording_and_its_page_draws_both_epochs_and_the_gap(
    drilled: tuple[DrillStack, dict[str, Any]], browser: Any
) -> None:
    stack, result = drilled
    video_id = result["video_id"]
    page = open_page(browser, stack)
    page.goto(f"{stack.url}/console")
    ready(page, "fleet")
    link = page.get_by_role("link", name=video_id)
    assert link.count() == 1  # listed (it has ended: under "Recently ended")
    assert "ready" in page.get_by_role("table", name="Recently ended recordings").inner_text()

    link.click()
    ready(page, "recording")
    rows = page.locator("svg.timeline text").all_text_contents()  # SVG text has no innerText
    assert {"epoch 1", "epoch 2"} <= set(rows)  # one labelled row per recorder
    svg = page.locator("svg.timeline")
    (gap,) = page.locator("svg.timeline rect.gap").all()
    drawn = float(gap.get_attribute("width")) / float(svg.get_attribute("data-px-per-second"))
    assert abs(drawn - result["gap_s"]) <= 1.0, (drawn, result["gap_s"])  # to scale: the drill's gap
    assert any(text.startswith("gap ") for text in rows)  # labelled, not only coloured
    assert any(text.startswith("takeover to epoch 2") for text in rows)
    takeovers = page.get_by_role("table", name="Takeover history").inner_text()
    assert "running" in takeovers  # the backup's takeover, with its reason and how long it took
    hooks = page.get_by_role("table", name="Customer webhooks in order").inner_text()
    assert "recordingStatusChanged ready" in hooks
    assert "delivered" in hooks
    assert page.locator("#final-file").get_attribute("href")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-recording.png"), full_page=True)


def test_a_live_recording_is_listed_under_its_host_then_taken_over_and_its_backup_stopped_from_the_page(
    drilled: tuple[DrillStack, dict[str, Any]], browser: Any, tmp_path: Path
) -> None:
    stack, _ = drilled
    run = Run(stack, tmp_path, "none", random.Random(7))
    recording = run.start()
    try:
        wait(lambda: len(run.probes.stored_chunks()) >= 1, 60, "the live recording's first chunk")
        page = open_page(browser, stack)
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{stack.url}/console")
        ready(page, "fleet")
        host = run.probes.session()["clientHost"]
        live = page.get_by_role("table", name=f"Live recordings on {host}").inner_text()
        assert run.video_id in live
        assert "RECORDING" in live
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "console-fleet.png"), full_page=True)

        page.get_by_role("link", name=run.video_id).click()
        ready(page, "recording")
        page.click("#take-over")
        expect(page.locator("#notice")).to_contain_text("Done (202)")
        wait(lambda: run.probes.session()["epoch"] == 2, 30, "the takeover the console asked for")
        ready(page, "recording")
        page.click("#stop-backup")
        expect(page.locator("#notice")).to_contain_text("Done (200)")
    finally:
        run.openvidu.kill(recording)


def test_an_action_asks_first_then_works_or_shows_its_refusal(
    drilled: tuple[DrillStack, dict[str, Any]], browser: Any
) -> None:
    stack, result = drilled
    page = open_page(browser, stack)
    answers = iter([False, True, True])
    page.on("dialog", lambda dialog: dialog.accept() if next(answers) else dialog.dismiss())
    page.goto(f"{stack.url}/console#/recording/{result['video_id']}")
    ready(page, "recording")
    page.click("#take-over")
    expect(page.locator("#notice")).to_contain_text("Cancelled")  # the page's CSP forbids eval
    page.click("#take-over")  # the recording has ended: the controller refuses, and says why
    expect(page.locator("#notice")).to_contain_text("Refused")  # the page's CSP forbids eval
    refused = page.locator("#notice").inner_text()
    assert "409" in refused
    assert result["video_id"] in refused
    page.goto(f"{stack.url}/console#/")
    ready(page, "fleet")
    page.click("#redrive")
    expect(page.locator("#notice")).to_contain_text("Done")  # the page's CSP forbids eval
    assert "moved back for delivery" in page.locator("#notice").inner_text()


def test_the_actions_are_reachable_by_keyboard_and_a_phone_needs_no_sideways_scroll(
    drilled: tuple[DrillStack, dict[str, Any]], browser: Any
) -> None:
    stack, result = drilled
    page = open_page(browser, stack, 390, 844)
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.goto(f"{stack.url}/console#/recording/{result['video_id']}")
    ready(page, "recording")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "take-over":
            break
    else:
        pytest.fail("Tab never reached the take-over button")
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_contain_text("Cancelled")  # the page's CSP forbids eval
    assert asked
    assert result["video_id"] in asked[0]
