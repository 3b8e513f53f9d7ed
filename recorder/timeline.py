"""One timeline from the chunks of every recorder: no instant twice, nothing out of order,
nothing any recorder stored left out.

Two recorders can hold the same moment: a recorder cut off from the controller (not from S3)
records on while its backup starts, and both store chunks (their keys differ by epoch). The
chunks are placed by their wall-clock start and duration, not by their numbers. Where a
chunk starts before the one placed last ends, the earlier one is cut at the later one's start
(the concat demuxer's `outpoint`: packets are dropped from the end, so no decoder reference is
lost and nothing is re-encoded); a chunk that lies wholly inside one already placed is
dropped. Both are reported as overlaps. Chunks without a wall-clock start (the original's
recorders did not write one) keep the order of their numbers.

Pure: chunk descriptions in, an arrangement out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

TOLERANCE_S = 0.05  # closer than this, two chunks touch: a frame at 20 fps, below any cut worth making


@dataclass(frozen=True)
class Piece:
    """A stored chunk, as finalize read it."""

    index: int
    epoch: int | None
    start: float | None  # wall-clock seconds
    duration: float | None


@dataclass
class Placed:
    piece: Piece
    seconds: float  # how much of the chunk plays: its duration, or less where it was cut

    @property
    def cut(self) -> bool:
        return self.piece.duration is not None and self.seconds < self.piece.duration - 1e-6


@dataclass(frozen=True)
class Overlap:
    index: int
    epoch: int | None
    seconds: float  # of this chunk left out because another recorder's chunk holds the same moment
    action: str  # "cut" (its end) or "dropped" (all of it)


@dataclass
class Arrangement:
    placed: list[Placed] = field(default_factory=list)  # in playing order
    overlaps: list[Overlap] = field(default_factory=list)
    timed: bool = True  # False: some chunk had no wall-clock start, so chunk numbers decided

    @property
    def overlap_seconds(self) -> float:
        return round(sum(o.seconds for o in self.overlaps), 3)


def arrange(pieces: list[Piece]) -> Arrangement:
    if not pieces:
        return Arrangement()
    if any(p.start is None or not p.duration for p in pieces):
        ordered = sorted(pieces, key=lambda p: (p.index, p.epoch or 0))
        return Arrangement([Placed(p, p.duration or 0.0) for p in ordered], timed=False)
    arrangement = Arrangement()
    # by start; of two starting together, the longer first, so the shorter is the one dropped
    queue = sorted(pieces, key=lambda p: (p.start, -(p.duration or 0), -(p.epoch or 0)))
    for position, piece in enumerate(queue):
        while arrangement.placed:
            last = arrangement.placed[-1]
            last_end = _start(last.piece) + last.seconds
            if _end(piece) <= last_end + TOLERANCE_S:  # nothing of it is new
                arrangement.overlaps.append(Overlap(piece.index, piece.epoch, _length(piece), "dropped"))
                break
            if _start(piece) >= last_end - TOLERANCE_S:  # it follows
                arrangement.placed.append(Placed(piece, _length(piece)))
                break
            if _older(piece, last.piece) and _covered(
                last_end, _end(piece), queue[position + 1 :], last.piece
            ):
                # an older recorder's chunk whose new part the newer recorder's next chunks hold too:
                # the newer one plays on (one switch of recorder, not one per chunk)
                arrangement.overlaps.append(Overlap(piece.index, piece.epoch, _length(piece), "dropped"))
                break
            kept = _start(piece) - _start(last.piece)
            if kept <= TOLERANCE_S:  # nothing of the one placed last plays before this one starts
                arrangement.placed.pop()
                arrangement.overlaps.append(
                    Overlap(last.piece.index, last.piece.epoch, last.seconds, "dropped")
                )
                continue
            arrangement.overlaps.append(
                Overlap(last.piece.index, last.piece.epoch, round(last.seconds - kept, 3), "cut")
            )
            last.seconds = kept
            arrangement.placed.append(Placed(piece, _length(piece)))
            break
        else:
            arrangement.placed.append(Placed(piece, _length(piece)))
    return arrangement


def _start(piece: Piece) -> float:
    assert piece.start is not None
    return piece.start


def _length(piece: Piece) -> float:
    assert piece.duration is not None
    return piece.duration


def _end(piece: Piece) -> float:
    return _start(piece) + _length(piece)


def _older(piece: Piece, than: Piece) -> bool:
    return (piece.epoch or 0) < (than.epoch or 0)


def _covered(begin: float, end: float, later: list[Piece], newer_than: Piece) -> bool:
    """Do chunks still to come, of `newer_than`'s epoch or newer, hold all of [begin, end]?"""
    reached = begin
    for piece in later:  # in order of start
        if _start(piece) > reached + TOLERANCE_S:
            return False
        if not _older(piece, newer_than):
            reached = max(reached, _end(piece))
            if reached >= end - TOLERANCE_S:
                return True
    return False


def reorderings(starts: list[float | None]) -> int:
    """How many times a timeline goes back in time (for checks: a correct one never does)."""
    known = [s for s in starts if s is not None]
    return sum(1 for before, after in itertools.pairwise(known) if after < before - TOLERANCE_S)
