"""Read, create, change, cancel, trash and restore events: the operations the
JSON API and the MCP tools share.

Every content write edits the resource's iCalendar text (domain/event_edit.py)
and stores it with db.event_writes.put_item, the function a CalDAV PUT ends
in: one path to the rows, the instance index and the sync log, under the
tenant's write lock, so a client sees the change at its next sync and an
If-Match is checked against the same revision its ETag names.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Connection, Row

from backside_caldav.db import busy_queries, event_queries, tenancy
from backside_caldav.db import calendars as calendar_rows
from backside_caldav.db.event_reads import event_record
from backside_caldav.db.event_writes import move_item, put_item
from backside_caldav.domain import busy, event_edit
from backside_caldav.domain.api_keys import ApiKey
from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.records import CalendarRow
from backside_caldav.domain.recurrence import expand
from backside_caldav.scheduling import implicit
from backside_caldav.service import access, event_view, validate
from backside_caldav.service import event_input as inp
from backside_caldav.service.event_changes import Changes, apply_changes
from backside_caldav.service.problems import Problem, invalid, not_found

CREATE_FIELDS = ("id", "calendar_id", "calendar_name", "title", "description", "location",
                 "start_time", "end_time", "timezone", "is_all_day", "event_type", "status",
                 "transparency", "rrule", "recurrence", "exdates", "attendees", "reminders",
                 "custom_fields", "check_availability")
PATCH_FIELDS = ("calendar_id", "title", "description", "location", "start_time", "end_time",
                "timezone", "is_all_day", "event_type", "status", "transparency", "rrule",
                "recurrence", "exdates", "attendees", "reminders", "custom_fields",
                "recurrence_id")
MAX_CONFLICTS = 50


@dataclass
class Caller:
    """Who is asking: the transaction, and the key with its restrictions."""

    conn: Connection
    key: ApiKey

    @property
    def tenant(self) -> str:
        return self.key.tenant_id


def now() -> datetime:
    return datetime.now(timezone.utc)


def _missing(event_id: str) -> Problem:
    return not_found(f"no event {event_id} (it does not exist, is in the trash, or is an "
                     "occurrence override: use its series id)")


def visible_master(caller: Caller, event_id: str, include_deleted: bool = False,
                   lock: bool = False, writing: bool = False) -> Row:
    """The series with this id if the key may see it: a read of anything else is a
    404 whatever the reason; a write to an event outside the key's calendars or
    window is a 403 that names the limit."""
    event_id = validate.uuid_value("event_id", event_id)
    master = event_queries.get_master(caller.conn, caller.tenant, event_id, lock=lock)
    if master is None or (master.deleted_at is not None and not include_deleted):
        raise _missing(event_id)
    reason = access.event_outside(caller.conn, caller.key, master.id, master.calendar_id,
                                  now())
    if reason is not None:
        if writing:
            raise access.forbidden(reason + "; writes outside its limits are not allowed")
        raise _missing(event_id)
    return master


def read(caller: Caller, event_id: str, include_deleted: bool = False,
         writing: bool = False) -> dict[str, Any]:
    """The event; `writing`: the caller reads it to change it (403 outside the key's limits)."""
    master = visible_master(caller, event_id, include_deleted, writing=writing)
    return event_view.event(caller.conn, caller.tenant, master, caller.key.owner_email)


def _calendar(caller: Caller, doc: dict[str, Any]) -> CalendarRow:
    conn, tenant = caller.conn, caller.tenant
    if doc.get("calendar_id") is not None:
        cal_id = validate.uuid_value("calendar_id", doc["calendar_id"])
        found = calendar_rows.calendar_by_id(conn, tenant, cal_id)
        if found is None or not caller.key.sees_calendar(found.id):
            raise invalid("calendar_id", f"no calendar {cal_id} in this tenant "
                                         "(GET /api/v1/calendars lists them)")
    elif doc.get("calendar_name") is not None:
        name = validate.text("calendar_name", doc["calendar_name"], 200)
        named = [c for c in calendar_rows.calendars_by_name(conn, tenant, name)
                 if caller.key.sees_calendar(c.id)]
        if not named:
            raise invalid("calendar_name", f"no calendar named {name!r} in this tenant")
        if len(named) > 1:
            raise invalid("calendar_name", f"{len(named)} calendars are named {name!r}; "
                                           "give calendar_id instead")
        found = named[0]
    else:
        found = calendar_rows.default_calendar(conn, tenant)
        if found is not None and not caller.key.sees_calendar(found.id):
            found = calendar_rows.calendar_by_id(conn, tenant, caller.key.calendar_ids[0]) \
                if caller.key.calendar_ids else None
        if found is None:
            raise Problem(409, "no-calendar", "No calendar",
                          "this tenant has no calendar for events yet; create one with "
                          "POST /api/v1/calendars or give calendar_id")
    if "VEVENT" not in found.components:
        raise invalid("calendar_id", f"calendar {found.name!r} holds no events (only "
                                     f"{', '.join(found.components)})")
    access.require_calendar_write(caller.key, found.id, found.name)
    return found


def create(caller: Caller, doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """201 and the new event, or 200 and the existing one for a repeated client id."""
    inp.fields_of(doc, CREATE_FIELDS)
    access.require_write(caller.key)
    if doc.get("title") is None:
        raise invalid("title", "is required (1 to 500 characters)")
    event_id = validate.uuid_value("id", doc["id"]) if doc.get("id") is not None \
        else str(uuid.uuid4())
    check = inp.boolean("check_availability", doc["check_availability"]) \
        if doc.get("check_availability") is not None else False
    tenancy.lock_tenant(caller.conn, caller.tenant, "api")
    existing = event_queries.get_master(caller.conn, caller.tenant, event_id)
    if existing is not None:
        master = visible_master(caller, event_id, include_deleted=True, writing=True)
        return 200, event_view.event(caller.conn, caller.tenant, master, caller.key.owner_email)
    calendar = _calendar(caller, doc)
    stamp = now()
    cal, comp = event_edit.new_resource(event_id, stamp)
    fields = {k: v for k, v in doc.items() if k not in ("id", "calendar_id", "calendar_name",
                                                        "check_availability")}
    changes = Changes(doc=fields, calendar_zone=calendar.timezone, owner=caller.key.owner_email,
                      creating=True)
    result = apply_changes(cal, comp, None, changes)
    access.require_window_write(caller.key, result.start, result.end, stamp)
    if check:
        _require_free(caller, result.start, result.end)
    text = event_edit.finish(cal)
    _store(caller, calendar, f"{event_id}.ics", text, None, event_id, old_text=None)
    master = event_queries.get_master(caller.conn, caller.tenant, event_id)
    assert master is not None
    return 201, event_view.event(caller.conn, caller.tenant, master, caller.key.owner_email)


def _require_free(caller: Caller, start: datetime, end: datetime) -> None:
    calendars = access.calendars_for(caller.key, None)
    try:
        found = busy_queries.candidates(caller.conn, caller.tenant, calendars, start, end,
                                        caller.key.owner_email, expand_limit=100_000)
    except busy_queries.SeriesTooLong as exc:
        raise Problem(422, "series-too-long", "Series too long to expand",
                      f"event {exc.event_id} has more than {exc.limit} occurrences before "
                      "the slot; availability cannot be checked") from None
    blocks = busy.blocks(found, start, end)
    if blocks:
        raise Problem(409, "slot-taken", "The slot is taken",
                      f"{len(blocks)} event(s) overlap {validate.iso(start)} to "
                      f"{validate.iso(end)}; nothing was written (leave out "
                      "check_availability to book it anyway)",
                      conflicts=[{"event_id": b.occurrence.event_id,
                                  "title": b.occurrence.title,
                                  "start": validate.iso(b.start), "end": validate.iso(b.end)}
                                 for b in blocks[:MAX_CONFLICTS]])


def _store(caller: Caller, calendar: CalendarRow, href: str, text: str,
           replaces: str | None, series_id: str | None = None, *,
           old_text: str | None) -> None:
    """Store the event's text, with what it sends queued (RFC 6638 implicit
    scheduling: the key's owner is the writer, as a login is on CalDAV)."""
    text = implicit.on_put(caller.conn, _writer(caller), old_text, text)
    try:
        put_item(caller.conn, caller.tenant, calendar, href, text, replaces=replaces,
                 series_id=series_id)
    except InvalidCalendarData as exc:
        raise Problem(400, "invalid-event", "Invalid event", str(exc)) from None


def _writer(caller: Caller) -> implicit.Writer:
    return implicit.writer_for_email(caller.tenant, caller.key.owner_email)


def _check_etag(master: Row, if_match: str | None) -> None:
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    current = event_view.etag(master.revision)
    if "*" in tags or current in tags or f"W/{current}" in tags:
        return
    raise Problem(412, "precondition-failed", "Precondition failed",
                  f"the event changed since that ETag (now {current}); read it again and "
                  "retry, nothing was written", headers=[("ETag", current)])


def _edit(caller: Caller, event_id: str, if_match: str | None, doc: dict[str, Any],
          recurrence_id: str | None = None, remove_occurrence: bool = False,
          cut: bool = False) -> dict[str, Any]:
    """Apply `doc` (merge-patch fields) to the series or one occurrence and store it."""
    access.require_write(caller.key)
    tenancy.lock_tenant(caller.conn, caller.tenant, "api")
    master = visible_master(caller, event_id, lock=True, writing=True)
    _check_etag(master, if_match)
    item = event_queries.current_text(caller.conn, caller.tenant, master)
    try:
        opened = event_edit.open_text(item.text)
        cal = opened.cal
    except ValueError as exc:
        raise Problem(409, "unreadable-event", "Event text cannot be edited",
                      f"the event's stored iCalendar text does not parse ({exc})") from None
    calendar = calendar_rows.calendar_by_id(caller.conn, caller.tenant, master.calendar_id)
    assert calendar is not None
    target_calendar = calendar
    if doc.get("calendar_id") is not None and doc["calendar_id"] != master.calendar_id:
        target_calendar = _calendar(caller, {"calendar_id": doc["calendar_id"]})
    fields = {k: v for k, v in doc.items() if k not in ("calendar_id", "recurrence_id")}
    changes = Changes(doc=fields, calendar_zone=calendar.timezone, owner=caller.key.owner_email,
                      recurrence_id=recurrence_id, remove_occurrence=remove_occurrence,
                      cut=cut)
    result = apply_changes(cal, event_edit.master_of(cal), master, changes)
    access.require_window_write(caller.key, result.start, result.end, now())
    _store(caller, calendar, master.href, event_edit.finish(cal, opened), "VEVENT", master.id,
           old_text=item.text)
    if target_calendar.id != calendar.id:
        move_item(caller.conn, caller.tenant, calendar.id, master.href, target_calendar.id,
                  master.href)
    fresh = event_queries.get_master(caller.conn, caller.tenant, master.id)
    assert fresh is not None
    return event_view.event(caller.conn, caller.tenant, fresh, caller.key.owner_email)


def patch(caller: Caller, event_id: str, doc: dict[str, Any], if_match: str | None,
          recurrence_id: str | None = None) -> dict[str, Any]:
    inp.fields_of(doc, PATCH_FIELDS)
    if "recurrence_id" in doc and recurrence_id is not None:
        raise invalid("recurrence_id", "give it in the query or in the body, not both")
    rid = doc.get("recurrence_id", recurrence_id)
    return _edit(caller, event_id, if_match, doc, recurrence_id=rid)


def patch_custom(caller: Caller, event_id: str, doc: dict[str, Any],
                 if_match: str | None) -> dict[str, Any]:
    return _edit(caller, event_id, if_match, {"custom_fields": doc})


def cancel(caller: Caller, event_id: str, if_match: str | None,
           recurrence_id: str | None = None) -> dict[str, Any]:
    return _edit(caller, event_id, if_match, {"status": "cancelled"}, recurrence_id)


def remove_occurrence(caller: Caller, event_id: str, recurrence_id: str,
                      if_match: str | None) -> dict[str, Any]:
    return _edit(caller, event_id, if_match, {}, recurrence_id, remove_occurrence=True)


def end_before(caller: Caller, event_id: str, recurrence_id: str,
               if_match: str | None) -> dict[str, Any]:
    """End a series just before one occurrence (delete "this and following")."""
    return _edit(caller, event_id, if_match, {}, recurrence_id, cut=True)


SPLIT_KEPT = ("title", "description", "location", "timezone", "event_type", "status",
              "transparency", "attendees", "reminders", "custom_fields")


def split(caller: Caller, event_id: str, recurrence_id: str, doc: dict[str, Any],
          if_match: str | None) -> dict[str, Any]:
    """Change "this and following" as Apple Calendar does: the series ends before the
    occurrence (UNTIL), and a new series starts there with the change applied.
    Answers the new series."""
    inp.fields_of(doc, PATCH_FIELDS)
    old = read(caller, event_id, writing=True)
    if old["rrule"] is None:
        raise invalid("occurrence_start", "the event does not repeat")
    rule = _rest_of_rule(caller, old["id"], old["rrule"],
                         validate.date_time("occurrence_start", recurrence_id)
                         if not old["is_all_day"] else None, recurrence_id)
    fresh: dict[str, Any] = {k: old[k] for k in SPLIT_KEPT if old.get(k) not in (None, [], {})}
    fresh["attendees"] = [{k: v for k, v in a.items() if k in ("email", "contact_id", "name",
                                                                "rsvp_status") and v}
                          for a in old["attendees"] if a.get("email") or a.get("contact_id")]
    fresh.update({"calendar_id": old["calendar_id"], "rrule": rule,
                  "start_time": recurrence_id})
    if old["is_all_day"]:
        fresh["is_all_day"] = True
    else:
        length = (datetime.fromisoformat(old["end_time"]) -
                  datetime.fromisoformat(old["start_time"]))
        fresh["end_time"] = validate.iso(validate.date_time("occurrence_start", recurrence_id)
                                         + length)
    fresh.update(doc)
    if "start_time" in doc and "end_time" not in doc and not old["is_all_day"]:
        fresh.pop("end_time", None)
    end_before(caller, event_id, recurrence_id, if_match)
    return create(caller, fresh)[1]


def _rest_of_rule(caller: Caller, event_id: str, rule: str, at: datetime | None,
                  day: str) -> str:
    """The rule of the series that continues from an occurrence: a COUNT becomes
    what is left of it (exclusions count, as in RFC 5545)."""
    parts = rule.split(";")
    count = next((p for p in parts if p.upper().startswith("COUNT=")), None)
    if count is None:
        return rule
    master = event_queries.get_master(caller.conn, caller.tenant, event_id)
    assert master is not None
    record = event_record(master)
    record.exdates = []
    if at is None:  # all-day: the occurrence's date, in the series' zone
        at = inp.utc_of(inp.a_date("occurrence_start", day), master.timezone or "UTC")
    before = len(expand([record], record.start_time, at, limit=100_000))
    left = int(count.split("=", 1)[1]) - before
    if left < 1:
        raise invalid("occurrence_start", "the series has no occurrence from there on")
    return ";".join(p if p is not count else f"COUNT={left}" for p in parts)


def delete(caller: Caller, event_id: str, permanent: bool, if_match: str | None) -> None:
    """To the trash (clients see it go at their next sync), or gone for good (admin)."""
    access.require_write(caller.key)
    if permanent:
        access.require_admin(caller.key, "a permanent delete (?permanent=true)")
    tenancy.lock_tenant(caller.conn, caller.tenant, "api")
    master = visible_master(caller, event_id, include_deleted=permanent, lock=True,
                            writing=True)
    _check_etag(master, if_match)
    if master.deleted_at is None:
        old = event_queries.current_text(caller.conn, caller.tenant, master)
        implicit.on_delete(caller.conn, _writer(caller), old.text)
    if permanent:
        event_queries.purge(caller.conn, caller.tenant, master.id)
    else:
        event_queries.trash(caller.conn, caller.tenant, master.id)


def restore(caller: Caller, event_id: str) -> dict[str, Any]:
    access.require_write(caller.key)
    tenancy.lock_tenant(caller.conn, caller.tenant, "api")
    master = visible_master(caller, event_id, include_deleted=True, lock=True, writing=True)
    if master.deleted_at is not None:
        if event_queries.live_conflict(caller.conn, caller.tenant, master):
            raise Problem(409, "restore-conflict", "Cannot restore",
                          "another event now has this event's UID or file name in its "
                          "calendar; delete or move that one first")
        event_queries.restore(caller.conn, caller.tenant, master.id)
    fresh = event_queries.get_master(caller.conn, caller.tenant, master.id)
    assert fresh is not None
    return event_view.event(caller.conn, caller.tenant, fresh, caller.key.owner_email)
