"""Scheduling rows: an organizer's invitations (RFC 6638 implicit scheduling)
and a free-busy lookup through the schedule outbox.

Invite: new meetings PUT one by one into the full calendar, each organized
by the bench login with three guests: a colleague of its tenant (the shared
object is the delivery), a login of another tenant (its inbox message and
calendar copy are written before the PUT answers) and a guest outside (the
mail is queued; the bench sets no relay). Stock Radicale stores the same
object and sends nothing: its figure is what storing the meeting costs
there. Free-busy: the week's busy time of the organizer and the colleague,
POSTed to the outbox as Apple Calendar's availability panel does; Radicale
has no outbox, its week free-busy-query stands in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import psycopg

from . import data
from .dav import DavError
from .measure import Result, Scenario, sequential_rate, summarize, timed

DOMAIN = "bench.example"
EMAIL = f"bench@{DOMAIN}"
COLLEAGUE = ("colleague", f"colleague@{DOMAIN}")
OTHER = ("other", f"other@other.{DOMAIN}")  # a login of another tenant
GUEST = "guest@outside.example"


def logins(engine: object) -> None:
    """The colleague and the other tenant's login (the bench login has EMAIL)."""
    from backside_caldav.db import accounts
    accounts.add_account(engine, COLLEAGUE[0], "bench", "colleague-password-2026", COLLEAGUE[1])
    accounts.add_account(engine, OTHER[0], "bench-other", "other-password-2026", OTHER[1])


def meeting(size: int, n: int) -> str:
    start = data.ANCHOR + timedelta(days=400 + n % 60, hours=9 + n % 8)
    stamp = "%Y%m%dT%H%M%SZ"
    guests = [("Colleague", COLLEAGUE[1]), ("Other", OTHER[1]), ("Guest", GUEST)]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//backside-caldav bench//EN",
             "BEGIN:VEVENT", f"UID:meeting-{size}-{n}@{DOMAIN}",
             "DTSTAMP:20260101T000000Z", f"DTSTART:{start.strftime(stamp)}",
             f"DTEND:{(start + timedelta(minutes=30)).strftime(stamp)}",
             f"SUMMARY:Meeting #{n}", "SEQUENCE:0", f"ORGANIZER;CN=Bench:mailto:{EMAIL}",
             f"ATTENDEE;CN=Bench;PARTSTAT=ACCEPTED:mailto:{EMAIL}"]
    lines += [f"ATTENDEE;CN={cn};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{address}"
              for cn, address in guests]
    return "\r\n".join([*lines, "END:VEVENT", "END:VCALENDAR", ""])


def freebusy_request() -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//backside-caldav bench//EN",
        "METHOD:REQUEST", "BEGIN:VFREEBUSY", f"UID:fb@{DOMAIN}", "DTSTAMP:20260101T000000Z",
        f"DTSTART:{data.WEEK_START}", f"DTEND:{data.WEEK_END}", f"ORGANIZER:mailto:{EMAIL}",
        f"ATTENDEE:mailto:{EMAIL}", f"ATTENDEE:mailto:{COLLEAGUE[1]}",
        "END:VFREEBUSY", "END:VCALENDAR", ""])


def _invite(sc: Scenario) -> Result:
    size = len(sc.events)
    return sequential_rate(
        [lambda n=n: sc.c.put(f"meeting-{size}-{n}.ics", meeting(size, n))
         for n in range(sc.s.put_sample)], sc.s.put_budget_s, "PUT")


def steps(sc: Scenario, database_url: str) -> dict[str, Callable[[], Result | None]]:
    """backside-caldav's cells; each checks that the messages went where they should."""

    def invite() -> Result:
        result = _invite(sc)
        with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as conn:
            inbox = conn.execute("SELECT count(*) FROM schedule_inbox WHERE username = %s "
                                 "AND uid LIKE %s", (OTHER[0], f"meeting-{len(sc.events)}-%")
                                 ).fetchone()[0]
            mail = conn.execute("SELECT count(*) FROM itip_queue WHERE transport = 'mail' "
                                "AND recipient = %s AND uid LIKE %s",
                                (f"mailto:{GUEST}", f"meeting-{len(sc.events)}-%")).fetchone()[0]
        if inbox != result.runs or mail != result.runs:
            raise DavError(f"{result.runs} invitations: {inbox} reached the other tenant's "
                           f"inbox, {mail} mails were queued")
        result.info.update({"delivered": inbox, "mail_queued": mail})
        return result

    def freebusy() -> Result:
        body = freebusy_request()
        answers: list[bytes] = []

        def run() -> float:
            seconds, answer = timed(lambda: sc.c.request(
                "POST", f"/{sc.c.auth[0]}/outbox/", body,
                {"Content-Type": "text/calendar; charset=utf-8"}, ok=(200,)))
            answers.append(answer.content)
            return seconds

        result = summarize(sc._repeat(run), 1000.0)
        if answers[-1].count(b"2.0;Success") != 2:
            raise DavError(f"outbox free-busy: {answers[-1][:300]!r}")
        return result

    return {"sched_invite": invite, "sched_freebusy": freebusy}


def radicale_steps(sc: Scenario) -> dict[str, Callable[[], Result | None]]:
    def invite() -> Result:
        return dataclasses.replace(_invite(sc), note="stores the meeting, sends nothing")

    def freebusy() -> Result:
        if "week_freebusy" not in sc.results:
            sc.attempt("week_freebusy")
        found = sc.results.get("week_freebusy", Result("skipped"))
        return dataclasses.replace(found, note="no outbox; CalDAV: REPORT free-busy-query, "
                                               "one week", info=dict(found.info))

    return {"sched_invite": invite, "sched_freebusy": freebusy}
