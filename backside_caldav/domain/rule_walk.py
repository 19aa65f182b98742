"""Walking a recurrence rule with dateutil, with a bound on the work done
between two occurrences, and its failures while walking.

dateutil finds occurrences by stepping through the rule's periods and
filtering them. A rule whose BYxxx parts match rarely or never, valid RFC
5545 such as `FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30` or `FREQ=SECONDLY;BYSETPOS=2`,
steps up to the year 9999 without yielding anything: 8 to 16 s of CPU for
one walk, and a PUT walks a rule up to three times. Its UNTIL does not stop
it either (dateutil checks UNTIL against candidates only), and counting
occurrences cannot bound a walk that yields none.

So a walk counts dateutil's steps, through the two rule attributes its
stepping reads once per step: `_byeaster` when it rebuilds its masks for a
new month (or year, for yearly rules) and `_tzinfo` when it builds the times
of a sub-daily period. Steps that find an occurrence within a month's worth
are work any rule does; the others are idle, and past IDLE_STEPS idle steps
in one walk (about a tenth of a second) the walk ends there: a rule that
never occurs is stored with no occurrences (RFC 5545 allows it), one whose
occurrences lie centuries apart keeps those found so far. Every walk starts
at DTSTART and counts alike, so the index and every reader see the same
occurrences. Occurrences themselves are bounded by the callers' own limits. The hook relies on dateutil 2.9's
internals; tests/test_series_edges.py fails quickly if it stops working.

Some rules also fail only while walked (`BYSECOND=60`, an INTERVAL that skips
every BYHOUR): those are InvalidRule, like a rule that cannot be read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, tzinfo

from dateutil.rrule import rrule, rrulebase, rrulestr

logger = logging.getLogger(__name__)
IDLE_STEPS = 50_000  # idle steps of dateutil in one walk, at most (about 0.1 s)
MONTH_STEP = 40  # a new month's masks cost about as much as 13 sub-daily periods
PERIOD_STEP = 3  # the times of one sub-daily period
FREE_GAP = 2 * MONTH_STEP  # steps before an occurrence that are not idle: a month skipped


class InvalidRule(ValueError):
    """An RRULE that dateutil cannot read (BYHOUR=99, text that is no rule)
    or that fails while it is walked (BYSECOND=60)."""


class RuleTooSparse(ValueError):
    """A rule that went IDLE_STEPS steps without an occurrence (it has none, or
    they lie centuries apart)."""


class _BoundedRule(rrule):
    """dateutil's rrule, counting the idle steps of its walk."""

    _idle = 0  # idle steps of the walk so far
    _gap = 0  # steps since the last occurrence

    def _tick(self, cost: int) -> None:
        self._gap += cost
        if self._idle + self._gap - FREE_GAP > IDLE_STEPS:
            raise RuleTooSparse(
                f"walking it from {self._dtstart:%Y-%m-%d} took more than {IDLE_STEPS} steps "
                "without an occurrence: it has none, or they lie too far apart")

    @property
    def _byeaster(self) -> tuple[int, ...] | None:  # read once per new month (or year)
        self._tick(MONTH_STEP)
        return self.__dict__["_byeaster"]

    @property
    def _tzinfo(self) -> tzinfo | None:  # read per time of a sub-daily period
        self._tick(PERIOD_STEP)
        return self.__dict__["_tzinfo"]

    def _iter(self) -> Iterator[datetime]:
        self._idle = self._gap = 0
        for value in super()._iter():
            self._idle += max(0, self._gap - FREE_GAP)
            self._gap = 0
            yield value


def parse(text: str, dtstart: datetime) -> rrulebase:
    """dateutil's reading of a rule; any failure is InvalidRule."""
    try:
        return rrulestr(text, dtstart=dtstart)
    except Exception as exc:  # noqa: BLE001 - ValueError, TypeError, and dateutil's own bugs
        raise InvalidRule(f"the recurrence rule {text[:80]!r} cannot be read ({exc})") from None


def bounded(rule: rrulebase) -> rrulebase:
    """The same rule, walked with the bound (a set of rules is left as it is)."""
    if type(rule) is rrule:
        rule.__class__ = _BoundedRule
    return rule


def walk(rules: rrulebase) -> Iterator[datetime]:
    """The occurrences of `rules`, bounded: a walk ends after IDLE_STEPS idle
    steps, or past the year 9999; a rule that fails while walked is InvalidRule."""
    iterator = iter(bounded(rules))
    while True:
        try:
            yield next(iterator)
        except (StopIteration, OverflowError):
            return
        except RuleTooSparse as exc:
            logger.info("%s", exc)
            return
        except Exception as exc:  # noqa: BLE001 - dateutil fails with IndexError too
            raise InvalidRule(f"the recurrence rule cannot be expanded ({exc})") from None
