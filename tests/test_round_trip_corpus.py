"""Nothing a client sends is lost: the corpus of real-client-style resources.

Each file is PUT over HTTP. Untouched, GET must return the exact bytes. After
another application edits the row with SQL, GET must return the same
calendar with only that field changed.
"""

from __future__ import annotations

from pathlib import Path

import icalendar
import pytest

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.ics"))


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 25


def _uid(data: bytes) -> str:
    cal = icalendar.Calendar.from_ical(data)
    return next(str(c["UID"]) for c in cal.subcomponents if "UID" in c)


def _content_lines(cal: icalendar.Calendar) -> list[tuple[str, ...]]:
    """Every component's properties as sorted content lines, for a semantic compare."""
    out = []
    for comp in cal.walk():
        lines = sorted(line for line in comp.content_lines()
                       if not line.startswith(("BEGIN:", "END:")))
        out.append((comp.name, *lines))
    return sorted(out)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_put_then_get_returns_the_same_bytes(path: Path, http, server, account) -> None:
    data = path.read_bytes()
    url = f"{server.url}{account.username}/calendar/{path.stem}.ics"
    r = http.put(url, data=data, headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert r.status_code == 201, r.text
    got = http.get(url)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["ETag"] == r.headers["ETag"]


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_sql_edit_keeps_everything_else(path: Path, http, server, account, sql) -> None:
    data = path.read_bytes()
    url = f"{server.url}{account.username}/calendar/{path.stem}.ics"
    etag = http.put(url, data=data, headers={"Content-Type": "text/calendar"}).headers["ETag"]
    uid = _uid(data)
    edited = sql.execute(
        "UPDATE events SET title = coalesce(title, '') || ' (edited)' WHERE tenant_id = %s "
        "AND uid = %s AND series_id IS NULL AND deleted_at IS NULL", (account.tenant_id, uid)).rowcount
    got = http.get(url)
    assert got.status_code == 200
    original = icalendar.Calendar.from_ical(data)
    served = icalendar.Calendar.from_ical(got.content)
    if edited == 0:  # tasks and journals are not mapped to rows
        assert got.content == data
        return
    assert got.headers["ETag"] != etag
    master = next(c for c in original.walk("VEVENT") if "RECURRENCE-ID" not in c)
    old_title = str(master.get("SUMMARY", ""))
    served_master = next(c for c in served.walk("VEVENT") if "RECURRENCE-ID" not in c)
    assert str(served_master["SUMMARY"]) == old_title + " (edited)"
    served_master.pop("SUMMARY")
    master.pop("SUMMARY", None)
    assert _content_lines(served) == _content_lines(original)
