"""The change feed's rows (/api/v1/changes/stream): how soon a commit reaches an
open stream, and whether 200 open streams slow CalDAV's polls.

Latency: one stream is open; a plain SQL UPDATE of one of the calendar's
events commits (another application's write, the path with no server code
in front of it), and the clock runs from the commit's return to the event's
arrival on the stream, as the reader thread parses it. Polls: the CalDAV
poll of the caldav rows (PROPFIND getctag), measured again while 200
streams are open on the one worker. Stock Radicale has no feed: n/a.
"""

from __future__ import annotations

import http.client
import queue
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import psycopg

from .dav import DavError
from .events_api import ApiClient
from .measure import Result, Scenario, summarize, timed

OPEN_STREAMS = 200
LATENCY_SAMPLES = 50


class StreamReader:
    """One SSE connection; each event's arrival time goes into `arrivals`."""

    def __init__(self, base_url: str, key: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.conn.request("GET", "/api/v1/changes/stream",
                          headers={"Authorization": f"Bearer {key}"})
        response = self.conn.getresponse()
        if response.status != 200:
            raise DavError(f"stream answered {response.status}: {response.read()[:200]!r}")
        self.response = response
        self.arrivals: queue.Queue[float] = queue.Queue()
        self.connected = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                line = self.response.readline()
                if not line:
                    return
                if line.startswith(b": connected"):
                    self.connected.set()
                elif line.startswith(b"data:"):
                    self.arrivals.put(time.perf_counter())
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return

    def close(self) -> None:
        if self.conn.sock is not None:
            try:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conn.close()


def steps(scenario: Scenario, api: ApiClient, event_ids: Callable[[], list[str]],
          database_url: str, base_url: str, key: str) -> dict[str, Callable[[], Result | None]]:
    def deliveries(readers: list[StreamReader], writes: int) -> list[float]:
        """Seconds from each SQL commit until the last of the readers has the change."""
        target = event_ids()[0]
        samples: list[float] = []
        with psycopg.connect(database_url, autocommit=True) as conn:
            for n in range(writes):
                conn.execute("UPDATE events SET title = %s WHERE id = %s",
                             (f"feed bench {n}", target))
                committed = time.perf_counter()
                arrived = max(reader.arrivals.get(timeout=10) for reader in readers)
                samples.append(arrived - committed)
        return samples

    def latency() -> Result:
        reader = StreamReader(base_url, key)
        try:
            if not reader.connected.wait(10):
                raise DavError("the stream did not start")
            samples = deliveries([reader], LATENCY_SAMPLES)
        finally:
            reader.close()
        return summarize(samples, 1000.0, writes=LATENCY_SAMPLES)

    def polls_with_streams() -> Result:
        readers: list[StreamReader] = []
        try:
            opened, _ = timed(lambda: readers.extend(StreamReader(base_url, key)
                                                     for _ in range(OPEN_STREAMS)))
            for reader in readers:
                if not reader.connected.wait(10):
                    raise DavError("a stream did not start")
            polls = scenario._repeat(lambda: timed(scenario.c.poll)[0])
            fan_out = sorted(deliveries(readers, 10))
            return summarize(polls, 1000.0, open_streams=len(readers), open_s=round(opened, 2),
                             to_all_200_median_ms=round(fan_out[len(fan_out) // 2] * 1000, 1),
                             to_all_200_max_ms=round(fan_out[-1] * 1000, 1))
        finally:
            for reader in readers:
                reader.close()

    return {"feed_latency": latency, "poll_200_streams": polls_with_streams}


def radicale_steps() -> dict[str, Callable[[], Result | None]]:
    def none(what: str) -> Callable[[], Result]:
        return lambda: Result("n/a", note=f"no change feed; {what}")

    return {"feed_latency": none("clients poll"), "poll_200_streams": none("no streams")}
