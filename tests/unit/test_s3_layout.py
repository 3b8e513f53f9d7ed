"""The S3 key layout is `recorder/layout.py`; the Lambda bundle (functions/ only) carries its own
copy of the keys the controller needs. This contract test holds the
copy to the layout."""

from __future__ import annotations

import pytest

from hacore import chunks
from recorder import layout

KEYS = [
    "rec/chunks/0000-e1.mp4",
    "rec/chunks/0042-e12.mp4",
    "rec/chunks/0007.mp4",  # the original's recorders: no epoch
    "rec/chunks/123456-e3.webm",
    "rec/chunks/notes.txt",
    "rec/chunks/0003-e.mp4",
    "rec/fence/e2",
    "rec/manifest.json",
]


@pytest.mark.parametrize("key", KEYS)
def test_the_bundle_parses_chunk_keys_as_the_layout_does(key: str) -> None:
    assert chunks.parse_chunk_key(key) == layout.parse_chunk_key(key)


def test_the_bundle_writes_the_fence_the_recorder_reads_and_lists_its_chunks() -> None:
    for epoch in (1, 2, 17):
        assert chunks.fence_key("rec", epoch) == layout.fence_key("rec", epoch)
    assert chunks.chunk_prefix("rec") == layout.chunk_prefix("rec")
    assert chunks.chunk_key("rec", 5, 2) == layout.chunk_key("rec", 5, 2)
    assert chunks.manifest_key("rec") == layout.manifest_key("rec")
    assert layout.parse_chunk_key(layout.chunk_key("rec", 5, 2)) == (5, 2)
