"""A Server-Sent Events reader for the tests: a real HTTP stream, read in a thread,
its events parsed as the EventSource spec says (id, event, data, comments)."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class Event:
    id: str | None
    type: str
    data: dict[str, Any]


@dataclass
class Stream:
    url: str
    headers: dict[str, str]
    events: queue.Queue = field(default_factory=queue.Queue)
    comments: list[str] = field(default_factory=list)
    response: requests.Response | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    def open(self, timeout: float = 10) -> requests.Response:
        self.response = requests.get(self.url, headers=self.headers, stream=True,
                                     timeout=(timeout, 60))
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()
        return self.response

    def _read(self) -> None:
        assert self.response is not None
        fields: dict[str, str] = {}
        data: list[str] = []
        try:
            for raw in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                line = raw if isinstance(raw, str) else raw.decode()
                if line == "":
                    if data:
                        self.events.put(Event(fields.get("id"), fields.get("event", "message"),
                                              json.loads("\n".join(data))))
                    fields, data = {}, []
                elif line.startswith(":"):
                    self.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "data":
                        data.append(value)
                    else:
                        fields[name] = value
        except (requests.RequestException, AttributeError, ValueError):
            pass
        finally:
            self.ended.set()

    def next(self, timeout: float = 10) -> Event:
        return self.events.get(timeout=timeout)

    def take(self, count: int, timeout: float = 10) -> list[Event]:
        deadline = time.monotonic() + timeout
        return [self.events.get(timeout=max(0.01, deadline - time.monotonic()))
                for _ in range(count)]

    def quiet(self, seconds: float = 1.0) -> bool:
        """No event arrives for this long."""
        try:
            event = self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        self.events.put(event)
        return False

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
