"""`ovha` takes its options anywhere on the line, as operators type them."""

from __future__ import annotations

import pytest

from local.ovha import parser


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "list", "--json", "--url", "http://ctl:8080"],
        ["--json", "--url", "http://ctl:8080", "sessions", "list"],
        ["sessions", "--json", "list", "--url", "http://ctl:8080"],
        ["--url", "http://ctl:8080", "sessions", "list", "--json"],
    ],
)
def test_the_global_options_are_read_wherever_they_stand(argv: list[str]) -> None:
    arguments = parser().parse_args(argv)
    assert (arguments.json, arguments.url, arguments.verb) == (True, "http://ctl:8080", "list")


def test_without_them_the_defaults_stand() -> None:
    arguments = parser().parse_args(["backups", "stop", "s1", "--force"])
    assert (arguments.json, arguments.url, arguments.user, arguments.force) == (False, None, None, True)


def test_an_option_no_command_takes_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["sessions", "list", "--jsn"])
    assert "unrecognized arguments: --jsn" in capsys.readouterr().err
