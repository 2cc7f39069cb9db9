"""Which voices a call forwards: the few loudest, chosen again a few times a second.

A class is 30 people; forwarding every unmuted voice to everyone else is N×(N−1)
streams (field notes: ~43k packets/s when all talk). The bridge forwards only the
loudest few, as measured by ``parta bench calls`` against forwarding all of them and
against mixing (decoding every voice and encoding the mix, once per speaker). Loudness
comes from the RFC 6464 audio level each packet carries, so nothing is decoded.

A voice already heard keeps its place unless a newcomer is louder by ``margin`` (dB), so
two equally loud speakers do not flicker in and out. A voice whose loudness is unknown
(its sender puts no level in its packets) is always forwarded: the bridge never silences
someone it cannot measure.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

LOUDEST = 3
"""Voices forwarded at once by default."""
MARGIN = 6
"""How much louder (dB) a newcomer must be to take an heard voice's place."""
INTERVAL = 0.2
"""Seconds between choices."""
QUIET_AFTER = 1.0
"""A source that sent nothing for this long is not speaking (muted means not sending)."""

K = TypeVar("K", bound=Hashable)


def loudest(
    levels: Mapping[K, int | None], heard: frozenset[K], n: int, margin: int = MARGIN
) -> frozenset[K]:
    """The voices to forward among those sending now.

    ``levels`` maps each sending source to its loudness (dB above silence, higher is
    louder) or None when unknown; ``heard`` is the previous choice.
    """
    unknown = {k for k, level in levels.items() if level is None}
    known = [(k, level) for k, level in levels.items() if level is not None]
    ranked = sorted(
        known, key=lambda kl: (-(kl[1] + (margin if kl[0] in heard else 0)), str(kl[0]))
    )
    return frozenset(unknown | {k for k, _ in ranked[:n]})
