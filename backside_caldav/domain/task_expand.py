"""Expanded calendar-data (RFC 4791 9.6.5) for a task, from the client's own lines.

As expand_render does for events: each instance is its master's (or
override's) content lines, with RECURRENCE-ID, DTSTART and DUE in UTC in place
of the time and recurrence properties, and without the VTIMEZONEs. A DURATION
stays: it is each instance's own length. The text is handled as content
lines, never re-serialized, so nothing else the client sent is altered.
"""

from __future__ import annotations

from datetime import datetime

# The events' renderer's content-line helpers: one reading of a line for both.
from backside_caldav.domain.expand_render import _name, _stamp, component_blocks
from backside_caldav.domain.task_times import Task, TaskInstance

# Properties that say when an instance is: replaced by the instance's own values.
_REPLACED = frozenset({"DTSTART", "DUE", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE",
                       "EXRULE"})


def _blocks(text: str) -> tuple[list[str], list[list[str]]] | None:
    """(the VCALENDAR's own lines and other components, each VTODO's lines in
    order), VTIMEZONEs left out; None when the text is not one VCALENDAR."""
    return component_blocks(text, "VTODO")


def _line(name: str, moment: datetime, is_date: bool, day_zone: str | None) -> str:
    params, value = _stamp(moment, is_date, day_zone)
    return f"{name}{params}:{value}"


def _instance(block: list[str], inst: TaskInstance, task: Task) -> list[str]:
    todo, zone_name = inst.todo, task.day_zone
    out = [block[0]]
    if inst.recurrence_id is not None and task.recurring:
        master = task.master
        anchor = master.anchor if master is not None and master.anchor else todo.anchor
        out.append(_line("RECURRENCE-ID", inst.recurrence_id,
                         anchor is not None and anchor.is_all_day, zone_name))
    if inst.start is not None:
        out.append(_line("DTSTART", inst.start, todo.start_is_date, zone_name))
    if inst.due is not None and todo.due is not None:
        out.append(_line("DUE", inst.due, todo.due_is_date, zone_name))
    depth = 0
    for line in block[1:-1]:
        upper = line[:6].upper()
        if upper.startswith("BEGIN:"):
            depth += 1
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 0 and _name(line) in _REPLACED:
            continue
        out.append(line)
    out.append(block[-1])
    return out


def render(text: str, task: Task, instances: list[TaskInstance]) -> str | None:
    """The task's text expanded into these instances, or None when its lines
    cannot be told apart (the caller then serves the text as it is)."""
    split = _blocks(text)
    if split is None or len(split[1]) != len(task.todos):
        return None
    head, blocks = split
    body: list[str] = []
    for inst in instances:
        body += _instance(blocks[inst.todo.index], inst, task)
    return "\r\n".join(["BEGIN:VCALENDAR", *head, *body, "END:VCALENDAR"]) + "\r\n"
