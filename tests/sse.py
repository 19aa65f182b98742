"""A Server-Sent Events reader for the tests: a real HTTP stream, read in a thread,
its events parsed as the EventSource spec says (id, event, data, comments)."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Event:
    id: str | None
    type: str
    data: dict[str, Any]


@dataclass
class Reply:
    status_code: int
    headers: Any
    text: str = ""

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Stream:
    url: str
    headers: dict[str, str]
    events: queue.Queue = field(default_factory=queue.Queue)
    comments: list[str] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)
    _conn: http.client.HTTPConnection | None = None
    _response: http.client.HTTPResponse | None = None

    def open(self, timeout: float = 10) -> Reply:
        """Send the request; a 200 is read on in a thread, anything else whole."""
        parts = urlsplit(self.url)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self._conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers=self.headers)
        self._response = self._conn.getresponse()
        reply = Reply(self._response.status, self._response.headers)
        if reply.status_code == 200:
            assert self._conn.sock is not None
            self._conn.sock.settimeout(None)
            threading.Thread(target=self._read, daemon=True).start()
        else:
            reply.text = self._response.read().decode()
            self.close()
        return reply

    def _read(self) -> None:
        assert self._response is not None
        fields: dict[str, str] = {}
        data: list[str] = []
        try:
            while True:
                raw = self._response.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
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
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            # AttributeError: http.client when close() pulls the socket from under it
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
        """Hang up at once (a reader blocked in the socket wakes with an error)."""
        if self._conn is not None and self._conn.sock is not None:
            try:
                self._conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._conn is not None:
            self._conn.close()
