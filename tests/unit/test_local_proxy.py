"""The drill's cuttable proxy: traffic through, refused (a reset), swallowed (a timeout), restored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from local.proxy import Proxy
from local.receiver import Receiver
from local.runtime import free_port


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    receiver = Receiver(free_port())
    receiver.up()
    through = Proxy(receiver.port).up()
    yield through
    through.down()
    receiver.down()


def test_traffic_flows_until_cut_and_again_once_restored(proxy: Proxy) -> None:
    http = requests.Session()  # keep-alive: a cut must break connections already open too
    assert http.post(f"{proxy.url}/hooks", data=b"x", timeout=5).status_code == 200
    proxy.cut("refuse")
    with pytest.raises(requests.ConnectionError):
        http.post(f"{proxy.url}/hooks", data=b"x", timeout=5)
    assert proxy.refused >= 1
    proxy.restore()
    assert http.post(f"{proxy.url}/hooks", data=b"x", timeout=5).status_code == 200


def test_a_blackhole_answers_nothing_until_the_caller_gives_up(proxy: Proxy) -> None:
    proxy.cut("blackhole")
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{proxy.url}/hooks", data=b"x", timeout=(2, 0.5))
    proxy.restore()
    assert requests.post(f"{proxy.url}/hooks", data=b"x", timeout=5).status_code == 200
