"""The bots' metrics (the request counters are :mod:`kernel.metrics`')."""

from __future__ import annotations

from prometheus_client import Counter

POSTS = Counter(
    "parta_bots_posts",
    "Messages the bots posted: lesson links and reminders, answers to commands, moderation; "
    "ok or failed",
    ["kind", "result"],
)
RUNS = Counter(
    "parta_bots_runs",
    "Rounds of the bots' loops (lessons and reminders; commands): ok or failed",
    ["loop", "result"],
)
COMMANDS = Counter("parta_bots_commands", "Commands read from the school's rooms")
for _kind in ("lesson", "command", "moderation"):
    for _result in ("ok", "failed"):
        POSTS.labels(_kind, _result)
for _loop in ("lessons", "commands"):
    for _result in ("ok", "failed"):
        RUNS.labels(_loop, _result)
