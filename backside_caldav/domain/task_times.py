"""When a task (VTODO) is: its instances, and RFC 4791 9.9's table for VTODO.

A VTODO needs no time at all: which time-ranges it matches depends on which of
DTSTART, DURATION, DUE, COMPLETED and CREATED it has (9.9's table, one row
each, in `matches`). A recurring task repeats from DTSTART; each instance
moves DTSTART and DUE together (DUE keeps its distance from DTSTART, a
DURATION its nominal length), and overrides (RECURRENCE-ID) and EXDATE apply
as for events: the series is expanded by recurrence.expand, its anchor in the
role of an event's start, so zones, DST, DATE exclusions and endless rules
follow the events' rules.

A repeating task with DUE and no DTSTART breaks RFC 5545 (RRULE needs
DTSTART), but tasks.org writes exactly that: DUE is then the anchor, as
vobject (Radicale's parser) and tasks.org read it, and instances move their
DUE. A rule with neither is not expanded: the task is one instance. Nothing
here refuses what a client sent, except a rule nobody can read (strict, as
for events, at PUT).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import icalendar

from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.ical_parse import parse_calendar, parse_event
from backside_caldav.domain.records import EventRecord
from backside_caldav.domain.recurrence import (
    INFINITY,
    TooManyInstances,
    expand,
    last_start,
    shift,
)
from backside_caldav.domain.zones import add_duration, to_utc, zone

UTC = timezone.utc
NEVER = datetime.min.replace(tzinfo=UTC)
# A stored span must hold whatever zone the calendar is given later (DATE and
# floating values move with it: at most 26 hours apart).
SPAN_SLACK = timedelta(days=2)
MAX_INSTANCES = 10_000


@dataclass
class Todo:
    """One VTODO component (the master or an override), its times in UTC."""

    index: int  # its place among the resource's VTODOs
    start: datetime | None  # DTSTART
    due: datetime | None  # DUE
    duration: timedelta | None  # DURATION (with DTSTART)
    completed: datetime | None
    created: datetime | None
    start_is_date: bool
    due_is_date: bool
    due_days: int | None  # DUE - DTSTART in days, when both are DATEs
    recurrence_id: datetime | None
    anchor: EventRecord | None  # DTSTART (or DUE) as an event's start, with the rules


@dataclass(frozen=True)
class TaskInstance:
    """One occurrence of a task, as 9.9 and an expand see it."""

    recurrence_id: datetime | None  # None: the task does not recur
    start: datetime | None
    due: datetime | None  # DUE, or DTSTART + DURATION
    todo: Todo  # the component it takes its other properties from

    @property
    def completed(self) -> datetime | None:
        return self.todo.completed

    @property
    def created(self) -> datetime | None:
        return self.todo.created


@dataclass
class Task:
    """A task resource: its master (if any) and overrides, in the text's order."""

    todos: list[Todo] = field(default_factory=list)
    day_zone: str | None = None

    @property
    def master(self) -> Todo | None:
        return next((t for t in self.todos if t.recurrence_id is None), None)

    @property
    def recurring(self) -> bool:
        master = self.master
        rules = master is not None and master.anchor is not None and bool(
            master.anchor.rrule or master.anchor.rdates)
        return rules or any(t.recurrence_id is not None for t in self.todos)


def _value(comp: icalendar.cal.Component, name: str) -> date | datetime | timedelta | None:
    prop = comp.get(name)
    if isinstance(prop, list):
        prop = prop[0] if prop else None
    value = getattr(prop, "dt", None)
    if prop is not None and not isinstance(value, (date, timedelta)):
        raise InvalidCalendarData(f"VTODO {name} is not a date or date-time")
    return value


def _moment(comp: icalendar.cal.Component, name: str, day_zone: str | None
            ) -> tuple[datetime | None, bool]:
    """A DATE or DATE-TIME property in UTC, read as an event's DTSTART is
    (zones, DATEs in the calendar's zone, floating times), and whether it is a DATE."""
    value = _value(comp, name)
    if value is None:
        return None, False
    if isinstance(value, timedelta):
        raise InvalidCalendarData(f"VTODO {name} is not a date or date-time")
    event = icalendar.Event()
    event["DTSTART"] = comp[name][0] if isinstance(comp[name], list) else comp[name]
    return parse_event(event, day_zone).start_time, not isinstance(value, datetime)


def _shadow(comp: icalendar.cal.Component, anchor: str, day_zone: str | None) -> EventRecord:
    """The task's recurrence as an event starting at its anchor (parse_event
    reads zones, rules and exclusions exactly as for events)."""
    event = icalendar.Event()
    event["DTSTART"] = comp[anchor]
    for name in ("UID", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
        if name in comp:
            event[name] = comp[name]
    return parse_event(event, day_zone)


def parse_todo(comp: icalendar.cal.Component, index: int, day_zone: str | None) -> Todo:
    """One VTODO's times; InvalidCalendarData when one cannot be read."""
    start, start_is_date = _moment(comp, "DTSTART", day_zone)
    due, due_is_date = _moment(comp, "DUE", day_zone)
    duration = _value(comp, "DURATION")
    if duration is not None and not isinstance(duration, timedelta):
        raise InvalidCalendarData("VTODO DURATION is not a duration")
    due_days = None
    if start is not None and due is not None and start_is_date and due_is_date:
        due_days = (_value(comp, "DUE") - _value(comp, "DTSTART")).days  # type: ignore[operator]
    anchor_name = "DTSTART" if start is not None else "DUE" if due is not None else None
    if anchor_name is None and "RECURRENCE-ID" in comp:
        anchor_name = "RECURRENCE-ID"  # an override without times: placed at its slot
    anchor = _shadow(comp, anchor_name, day_zone) if anchor_name else None
    return Todo(index=index, start=start, due=due,
                duration=duration if start is not None else None,
                completed=_moment(comp, "COMPLETED", day_zone)[0],
                created=_moment(comp, "CREATED", day_zone)[0], start_is_date=start_is_date,
                due_is_date=due_is_date, due_days=due_days,
                recurrence_id=anchor.recurrence_id if anchor is not None else None,
                anchor=anchor)


def parse_task(text: str, day_zone: str | None) -> Task:
    """The VTODOs of a resource's text; InvalidCalendarData when a time cannot be read."""
    cal = parse_calendar(text, reuse=True)
    todos = [c for c in cal.subcomponents if c.name == "VTODO"]
    return Task([parse_todo(c, i, day_zone) for i, c in enumerate(todos)], day_zone)


def _due_at(todo: Todo, start: datetime, day_zone: str | None) -> datetime | None:
    """Where an instance of `todo` that starts at `start` is due."""
    if todo.duration is not None:
        return add_duration(start, todo.duration, todo.anchor.timezone if todo.anchor else None)
    if todo.start is None or todo.due is None:
        return None
    if todo.due_days is not None:  # DATEs: whole days in the calendar's zone
        local = start.astimezone(zone(day_zone)).date()
        return to_utc(local + timedelta(days=todo.due_days), day_zone)
    return shift(start, todo.due - todo.start)


def _own(todo: Todo, rid: datetime | None) -> TaskInstance:
    """An instance at the component's own times (a single task, an override)."""
    due = todo.due
    if todo.start is not None and todo.duration is not None:
        due = _due_at(todo, todo.start, None)
    return TaskInstance(rid, todo.start, due, todo)


def _reach(task: Task) -> timedelta:
    """How far an instance's times may lie from its anchor."""
    far = timedelta(days=1)
    for t in task.todos:
        if t.start is not None and t.due is not None:
            far = max(far, abs(t.due - t.start) + timedelta(days=1))
        if t.duration is not None:
            far = max(far, abs(t.duration) + timedelta(days=1))
    return far


def _timeless(todo: Todo) -> bool:
    return todo.start is None and todo.due is None


def instances(task: Task, lo: datetime, hi: datetime,
              limit: int = MAX_INSTANCES) -> list[TaskInstance]:
    """The instances whose times may lie in [lo, hi) (a superset: `matches`
    decides); TooManyInstances past `limit`."""
    if not task.recurring:
        return [_own(t, None) for t in task.todos]
    # A master without DTSTART or DUE, and overrides without them, are one
    # instance each whatever the window (rows 5 to 8 of the table); the
    # overrides still take their slot in the series.
    found = [_own(t, t.recurrence_id) for t in task.todos
             if t.anchor is None or (t.recurrence_id is not None and _timeless(t))]
    by_record = {id(t.anchor): t for t in task.todos if t.anchor is not None}
    records = [t.anchor for t in task.todos if t.anchor is not None]
    reach = _reach(task)
    for inst in expand(records, shift(lo, -reach), shift(hi, reach), limit=limit):
        todo = by_record[id(inst.event)]
        if todo.recurrence_id is not None:
            if not _timeless(todo):
                found.append(_own(todo, todo.recurrence_id))
        elif todo.start is not None:
            found.append(TaskInstance(inst.recurrence_id, inst.start,
                                      _due_at(todo, inst.start, task.day_zone), todo))
        else:  # DUE is the anchor
            found.append(TaskInstance(inst.recurrence_id, None, inst.start, todo))
    return sorted(found, key=lambda i: (i.recurrence_id or NEVER, i.todo.index))


def matches(inst: TaskInstance, start: datetime | None, end: datetime | None) -> bool:
    """RFC 4791 9.9, the VTODO table, for one instance and the range [start, end)."""
    lo = start or NEVER
    hi = end or INFINITY
    dtstart, due = inst.start, inst.due
    if dtstart is not None and inst.todo.duration is not None and due is not None:
        return lo <= due and (hi > dtstart or hi >= due)
    if dtstart is not None and due is not None:
        return (lo < due or lo <= dtstart) and (hi > dtstart or hi >= due)
    if dtstart is not None:
        return lo <= dtstart < hi
    if due is not None:
        return lo < due <= hi
    completed, created = inst.completed, inst.created
    if completed is not None and created is not None:
        return (lo <= created or lo <= completed) and (hi >= created or hi >= completed)
    if completed is not None:
        return lo <= completed <= hi
    if created is not None:
        return hi > created
    return True


def matching(task: Task, start: datetime | None, end: datetime | None,
             limit: int = MAX_INSTANCES) -> list[TaskInstance]:
    """The task's instances that match the time-range."""
    return [i for i in instances(task, start or NEVER, end or INFINITY, limit)
            if matches(i, start, end)]


def any_match(task: Task, start: datetime | None, end: datetime | None) -> bool:
    """Whether the task matches the time-range. A window holding more
    instances than one request may walk is answered yes (conservatively, as
    RFC 4791 allows a server that cannot be sure)."""
    try:
        return bool(matching(task, start, end))
    except TooManyInstances:
        return True


def span(task: Task) -> tuple[datetime, datetime] | None:
    """A range holding every time-range the task can match (the stored
    pre-filter), or None when it matches every range."""
    times: list[datetime] = []
    endless = False
    for t in task.todos:
        own = [v for v in (t.start, t.due, t.completed, t.created) if v is not None]
        if not own:
            return None  # 9.9's last row: matches every range
        if t.start is None and t.due is None and t.completed is None:
            endless = True  # CREATED alone: every range that ends after it
        times += own
        if t.anchor is not None and t.recurrence_id is None and (t.anchor.rrule
                                                                 or t.anchor.rdates):
            last = last_start(t.anchor)
            if last is None:
                endless = True
            else:
                times.append(last)
    reach = _reach(task) + SPAN_SLACK
    first = shift(min(times), -reach)
    return first, INFINITY if endless else shift(max(times), reach)


def stored_span(text: str, day_zone: str | None) -> tuple[datetime | None, datetime | None]:
    """The span kept with a task's row for the time-range pre-filter; (None,
    None), every range, when its times cannot be read (the text is kept as sent)."""
    try:
        found = span(parse_task(text, day_zone))
    except (ValueError, OverflowError):  # InvalidCalendarData and TooManyInstances too
        return None, None
    return found if found is not None else (None, None)


def text_matches(text: str, day_zone: str | None, start: datetime | None,
                 end: datetime | None) -> bool:
    """Whether a stored task matches the time-range; yes when its times cannot
    be read (conservatively, as for a series the index cannot answer for)."""
    try:
        return any_match(parse_task(text, day_zone), start, end)
    except (ValueError, OverflowError):
        return True
