"""The summary of py-spy's collapsed stacks (:mod:`parta.bench.day_profile`)."""

from __future__ import annotations

from parta.bench.day_profile import summary

COLLAPSED = """\
<module> (synapse/app/hs.py:10);on_GET (synapse/rest/client/sync.py:280);encode (json/enc.py:1) 6
<module> (synapse/app/hs.py:10);on_GET (synapse/rest/client/sync.py:281);_get (synapse/db.py:7) 3
<module> (synapse/app/hs.py:10);persist (synapse/storage/events.py:50) 1
not a line of collapsed stacks
"""


def test_the_functions_holding_most_samples_by_own_and_by_inclusive_time() -> None:
    found = summary(COLLAPSED, top=2)
    assert found["samples"] == 10
    assert found["self"] == [
        ["encode (json/enc.py)", 0.6],
        ["_get (synapse/db.py)", 0.3],
    ]
    # one function whichever of its lines was sampled; counted once a stack; Synapse's own
    # work only, not its start-up under every stack nor anybody else's code
    assert found["inclusive"] == [
        ["on_GET (synapse/rest/client/sync.py)", 0.9],
        ["_get (synapse/db.py)", 0.3],
    ]


def test_no_samples_is_said_as_such() -> None:
    assert summary("") == {"samples": 0, "self": [], "inclusive": []}
