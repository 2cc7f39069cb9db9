"""The day's poll: a teacher asks the class, the students answer, the teacher sees it all.

::

    teacher: PUT …/send/m.poll.start (MSC3381, stable types, as Synapse 1.163 passes any type)
    each student of the room whose /sync returns the start: a moment to think, then
        PUT …/send/m.poll.response (an m.reference to the start, one answer)
    teacher's /sync returns the responses (a gapped timeline: GET …/relations/{start}, as a
        client fills a poll's gap) ─▶ the tally: when every student's answer was seen

Every poll event carries the run's poll id (``parta.bench.poll``): a later run's first
sync returns an earlier run's poll, which nobody must answer or count. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

POLL_START = "m.poll.start"
POLL_RESPONSE = "m.poll.response"
POLL_KEY = "parta.bench.poll"
ANSWERS = ("Да", "Нет", "Не знаю")
QUESTION = "Едем на экскурсию в пятницу?"


def start_content(poll_id: str) -> dict[str, Any]:
    """A disclosed single-choice poll (MSC3381's stable content) with a text fallback."""
    answers = [{"m.id": f"a{k}", "m.text": [{"body": a}]} for k, a in enumerate(ANSWERS)]
    fallback = "\n".join([QUESTION, *(f"{k + 1}. {a}" for k, a in enumerate(ANSWERS))])
    return {
        "m.poll": {
            "kind": "m.poll.disclosed",
            "max_selections": 1,
            "question": {"m.text": [{"body": QUESTION}]},
            "answers": answers,
        },
        "m.text": [{"body": fallback}],
        POLL_KEY: poll_id,
    }


def response_content(poll_id: str, start_event: str, answer: int) -> dict[str, Any]:
    """One student's answer: a reference to the start, one selection."""
    return {
        "m.selections": [f"a{answer % len(ANSWERS)}"],
        "m.relates_to": {"rel_type": "m.reference", "event_id": start_event},
        POLL_KEY: poll_id,
    }


def is_ours(event: dict[str, Any], kind: str, poll_id: str) -> bool:
    return event.get("type") == kind and event.get("content", {}).get(POLL_KEY) == poll_id


@dataclass
class Tally:
    """What the teacher has seen: each voter's first answer, on the teacher's clock."""

    voters: frozenset[str]
    started_at: float | None = None
    """The moment before the start was sent (None: not sent)."""
    answered_at: dict[str, float] = field(default_factory=dict)

    def answer(self, sender: str, at: float) -> bool:
        """Count ``sender``'s answer seen at ``at``; True if it is a new voter's."""
        if sender not in self.voters or sender in self.answered_at:
            return False
        self.answered_at[sender] = at
        return True

    @property
    def complete(self) -> bool:
        return bool(self.voters) and self.voters <= self.answered_at.keys()

    @property
    def all_answers_s(self) -> float | None:
        """From the start until the last voter's answer was seen (None: some never were)."""
        if self.started_at is None or not self.complete:
            return None
        return max(self.answered_at.values()) - self.started_at

    def report(self) -> dict[str, Any]:
        took = self.all_answers_s
        return {
            "voters": len(self.voters),
            "answers": len(self.answered_at),
            "all_answers_s": None if took is None else round(took, 3),
        }
