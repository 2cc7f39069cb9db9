"""A forwarding worker's metrics, read at each scrape: the calls it serves now, their
participants, and the packets and keyframe requests it forwarded since it started. Its CPU
is the client library's ``process_cpu_seconds_total`` (one worker, one process, one port)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from call_bridge.forward import Totals


class _Call(Protocol):
    @property
    def participants(self) -> Sized: ...


class WorkerCollector(Collector):
    def __init__(self, calls: Callable[[], Iterable[_Call]], totals: Totals) -> None:
        self._calls, self._totals = calls, totals

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        calls = list(self._calls())
        yield GaugeMetricFamily(
            "parta_call_bridge_calls", "Calls this worker serves now", value=len(calls)
        )
        yield GaugeMetricFamily(
            "parta_call_bridge_participants",
            "People in this worker's calls now",
            value=sum(len(c.participants) for c in calls),
        )
        packets = CounterMetricFamily(
            "parta_call_bridge_packets",
            "RTP packets forwarded: in from publishers, out to subscribers",
            labels=["direction"],
        )
        packets.add_metric(["in"], self._totals.packets_in)
        packets.add_metric(["out"], self._totals.packets_out)
        yield packets
        yield CounterMetricFamily(
            "parta_call_bridge_sent_bytes",
            "RTP payload bytes sent to subscribers",
            value=self._totals.octets_out,
        )
        yield CounterMetricFamily(
            "parta_call_bridge_keyframe_requests",
            "Keyframe requests (PLI) sent to publishers, merged to one a second each",
            value=self._totals.keyframe_requests,
        )
