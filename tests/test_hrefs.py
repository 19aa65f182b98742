"""dav/hrefs.py answers exactly what Radicale's own steps answer, on any href."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlparse
from xml.sax.saxutils import escape

from hypothesis import given, settings
from hypothesis import strategies as st
from radicale import pathutils

from backside_caldav.dav.hrefs import member_path, quoted

SEGMENTS = st.sampled_from(["", ".", "..", "user", "cal", "a.ics", "b c", "%20", "%2F", "ä",
                            "x;y", "q?r", "f#g", "<&>", "~", "-_", "\\", "http:", "a+b@c"])
HREFS = st.one_of(st.text(max_size=40), st.lists(SEGMENTS, max_size=6).map("/".join),
                  st.lists(SEGMENTS, max_size=6).map(lambda p: "/" + "/".join(p)),
                  st.lists(SEGMENTS, max_size=4).map(lambda p: "http://h:1/" + "/".join(p)))


@settings(max_examples=3000, derandomize=True, database=None)
@given(HREFS)
def test_member_path_is_radicales_reading_of_an_href(href: str) -> None:
    assert member_path(href) == pathutils.sanitize_path(unquote(urlparse(href).path))


@settings(max_examples=3000, derandomize=True, database=None)
@given(st.one_of(st.text(max_size=40), st.lists(SEGMENTS, max_size=6).map("/".join)))
def test_quoted_is_radicales_writing_of_a_path(path: str) -> None:
    assert quoted(path) == escape(quote(path))


def test_plain_hrefs_take_the_short_way_and_others_do_not() -> None:
    assert member_path("/user/cal/e1.ics") == "/user/cal/e1.ics"
    assert member_path("/user/cal/../other/e1.ics") == "/user/other/e1.ics"
    assert member_path("/user//cal/./e1.ics") == "/user/cal/e1.ics"
    assert member_path("/user/cal/b%20c.ics") == "/user/cal/b c.ics"
    assert member_path("http://host/user/cal/e;1.ics?x") == "/user/cal/e"
    assert quoted("/user/cal/b c@d+e.ics") == "/user/cal/b%20c%40d%2Be.ics"
