"""The CalDAV requests real clients send, written out by hand.

Hand-written bodies keep the benchmark independent of a client library's
choices, so both servers receive exactly the same bytes.

They go out over the standard library's http.client, one keep-alive
connection per thread, gzip accepted as DAVx5 (OkHttp) and Thunderbird
accept it. The benchmark used `requests` before: it spent 1.6 to 2.0 ms of
the client's own CPU per request on this 2-core machine, 40% of a 5 ms
budget, which the table then counted as the server's time. Clients in Kotlin
or C++ do not spend that; http.client spends about 0.3 ms.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import threading
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav", "cs": "http://calendarserver.org/ns/"}
XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
XML_TYPE = "application/xml; charset=utf-8"
ICS_TYPE = "text/calendar; charset=utf-8"


class DavError(RuntimeError):
    """A request got an answer no client would accept."""


class ServerTimeout(RuntimeError):
    """The server did not answer within the time bound."""


class ServerGone(DavError):
    """The connection failed: the server is down or closed it mid-answer."""


@dataclass
class Response:
    """What the benchmark reads of an answer (the body decompressed)."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Connection:
    """One keep-alive HTTP/1.1 connection to a server, reopened when the server
    closed it while idle (gunicorn does after 5 s), as urllib3 does."""

    def __init__(self, host: str, port: int, authorization: str) -> None:
        self.host, self.port = host, port
        self.authorization = authorization
        self.conn: http.client.HTTPConnection | None = None

    def _open(self, timeout: float) -> http.client.HTTPConnection:
        conn = self.conn
        if conn is not None and conn.sock is not None:
            readable, _, _ = select.select([conn.sock], [], [], 0)
            if not readable:  # idle and still open: reuse it
                conn.sock.settimeout(timeout)
                return conn
            conn.close()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock.settimeout(timeout)
        self.conn = conn
        return conn

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                timeout: float) -> Response:
        conn = self._open(timeout)
        headers = {"Authorization": self.authorization, "Accept-Encoding": "gzip", **headers}
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            content = answer.read()
        except Exception:
            conn.close()
            self.conn = None
            raise
        if answer.getheader("Content-Encoding", "") == "gzip":
            content = zlib.decompress(content, 16 + zlib.MAX_WBITS)
        if answer.will_close:
            conn.close()
            self.conn = None
        return Response(answer.status, dict(answer.getheaders()), content)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Multistatus:
    """What the benchmark checks in an answer: hrefs, etags, sync token."""

    hrefs: list[str]
    etags: dict[str, str]
    sync_token: str
    ctag: str
    body_bytes: int


def parse_multistatus(body: bytes) -> Multistatus:
    """Hrefs of the answered responses, their etags and any sync token / ctag."""
    root = ET.fromstring(body)
    hrefs: list[str] = []
    etags: dict[str, str] = {}
    ctag = ""
    token = root.findtext("d:sync-token", "", NS)
    for response in root.findall("d:response", NS):
        href = unquote(response.findtext("d:href", "", NS))
        answered = " 404 " in response.findtext("d:status", "", NS) + " "  # a deletion
        for propstat in response.findall("d:propstat", NS):
            if " 200 " not in propstat.findtext("d:status", "", NS) + " ":
                continue
            answered = True
            etag = propstat.findtext("d:prop/d:getetag", None, NS)
            if etag:
                etags[href] = etag
            ctag = propstat.findtext("d:prop/cs:getctag", "", NS) or ctag
            token = propstat.findtext("d:prop/d:sync-token", "", NS) or token
        if answered:
            hrefs.append(href)
    return Multistatus(hrefs, etags, token, ctag, len(body))


def propfind_body(*props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return (XML_HEAD + '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" '
            f'xmlns:cs="http://calendarserver.org/ns/"><d:prop>{inner}</d:prop></d:propfind>')


def multiget_body(hrefs: list[str]) -> str:
    refs = "".join(f"<d:href>{h}</d:href>" for h in hrefs)
    return (XML_HEAD + '<c:calendar-multiget xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/>'
            f"</d:prop>{refs}</c:calendar-multiget>")


def sync_collection_body(token: str) -> str:
    return (XML_HEAD + '<d:sync-collection xmlns:d="DAV:"><d:sync-token>'
            f"{token}</d:sync-token><d:sync-level>1</d:sync-level>"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>")


def calendar_query_body(start: str, end: str, data: bool = False, expand: bool = False,
                        etag: bool = True) -> str:
    if expand:
        cdata = f'<c:calendar-data><c:expand start="{start}" end="{end}"/></c:calendar-data>'
    else:
        cdata = "<c:calendar-data/>" if data else ""
    return (XML_HEAD + '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f"<d:prop>{'<d:getetag/>' if etag else ''}{cdata}</d:prop>"
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            f'<c:time-range start="{start}" end="{end}"/>'
            "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>")


def listing_query_body() -> str:
    """A calendar-query with nothing but a VEVENT comp-filter: list the calendar's
    events (what clients without sync-collection send, and the `caldav` client's
    events())."""
    return (XML_HEAD + '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            '<d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
            '<c:comp-filter name="VEVENT"/></c:comp-filter></c:filter></c:calendar-query>')


def free_busy_body(start: str, end: str) -> str:
    return (XML_HEAD + '<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f'<c:time-range start="{start}" end="{end}"/></c:free-busy-query>')


MKCALENDAR_BODY = (XML_HEAD + '<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
                   "<d:set><d:prop><d:displayname>Bench</d:displayname>"
                   '<c:supported-calendar-component-set><c:comp name="VEVENT"/>'
                   "</c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>")


class DavClient:
    """One server, one login, one calendar; a keep-alive connection per thread."""

    def __init__(self, base_url: str, username: str, password: str, calendar: str,
                 timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = (username, password)
        self.calendar_path = f"/{username}/{calendar}/"
        self.timeout = timeout
        where = urlsplit(self.base_url)
        self._host, self._port = where.hostname or "127.0.0.1", where.port or 80
        self._authorization = "Basic " + base64.b64encode(
            f"{username}:{password}".encode()).decode()
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()

    @property
    def connection(self) -> Connection:
        c = getattr(self._local, "connection", None)
        if c is None:
            c = Connection(self._host, self._port, self._authorization)
            self._local.connection = c
            with self._lock:
                self._connections.append(c)
        return c

    def close(self) -> None:
        with self._lock:
            for c in self._connections:
                c.close()
            self._connections.clear()

    def request(self, method: str, path: str, body: str | bytes | None = None,
                headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200, 207),
                timeout: float | None = None) -> Response:
        """One request within the time bound; an unexpected status is an error."""
        data = body.encode() if isinstance(body, str) else body
        bound = timeout or self.timeout
        try:
            r = self.connection.request(method, path, data, headers or {}, bound)
        except TimeoutError as exc:  # socket.timeout, on connect or on read
            raise ServerTimeout(f"{method} {path}: no answer within {bound:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ServerGone(f"{method} {path}: {exc!r}") from exc
        if r.status_code not in ok:
            raise DavError(f"{method} {path}: HTTP {r.status_code}: {r.text[:300]}")
        return r

    def xml(self, method: str, body: str, depth: str, timeout: float | None = None
            ) -> Response:
        return self.request(method, self.calendar_path, body,
                            {"Depth": depth, "Content-Type": XML_TYPE}, ok=(207,),
                            timeout=timeout)

    # --- the requests, as clients send them ---------------------------------

    def mkcalendar(self) -> None:
        # A principal collection must exist first on stock Radicale; a PROPFIND creates it.
        self.request("PROPFIND", f"/{self.auth[0]}/", propfind_body("d:resourcetype"),
                     {"Depth": "0", "Content-Type": XML_TYPE}, ok=(207,))
        self.request("MKCALENDAR", self.calendar_path, MKCALENDAR_BODY,
                     {"Content-Type": XML_TYPE}, ok=(201,))

    def put(self, href: str, text: str, new: bool = True) -> None:
        headers = {"Content-Type": ICS_TYPE}
        if new:
            headers["If-None-Match"] = "*"
        self.request("PUT", self.calendar_path + href, text, headers, ok=(201, 204))

    def href_path(self, href: str) -> str:
        """The path part of an href as the server wrote it."""
        return urlsplit(href).path

    def poll(self, timeout: float | None = None) -> Multistatus:
        return parse_multistatus(self.xml(
            "PROPFIND", propfind_body("cs:getctag", "d:sync-token"), "0", timeout).content)

    def list_etags(self, timeout: float | None = None) -> Response:
        return self.xml("PROPFIND", propfind_body("d:resourcetype", "d:getetag"), "1", timeout)

    def multiget(self, hrefs: list[str]) -> Response:
        return self.xml("REPORT", multiget_body(hrefs), "1")

    def sync_collection(self, token: str) -> Response:
        return self.xml("REPORT", sync_collection_body(token), "1")

    def calendar_query(self, start: str, end: str, data: bool = False, expand: bool = False,
                       etag: bool = True) -> Response:
        return self.xml("REPORT", calendar_query_body(start, end, data, expand, etag), "1")

    def listing_query(self) -> Response:
        return self.xml("REPORT", listing_query_body(), "1")

    def free_busy(self, start: str, end: str) -> Response:
        return self.request("REPORT", self.calendar_path, free_busy_body(start, end),
                            {"Depth": "1", "Content-Type": XML_TYPE}, ok=(200,))
