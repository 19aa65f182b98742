"""Scheduling is the one place where two tenants meet (DESIGN.md): only
scheduling/ looks a login up by address across tenants, and only
scheduling/delivery.py opens a transaction for a tenant found that way. A
new caller of either is a new crossing, and must be argued for here."""

from __future__ import annotations

import ast
from pathlib import Path

import sqlalchemy as sa
from scheduling_people import make_people

from backside_caldav.db import engines as db
from backside_caldav.db import itip_queue, schedule_inbox, tenancy

PACKAGE = Path(__file__).resolve().parents[1] / "backside_caldav"

# Who may ask "which login, in which tenant, does this address name?"
ADDRESS_LOOKUP_ALLOWED = {
    "db/calendar_users.py",  # where the question is asked
    "scheduling/implicit.py",  # where each recipient's transport is chosen
    "scheduling/delivery.py",  # the crossing itself
    "dav/outbox_post.py",  # free-busy lookup: refuses any other tenant alike (3.7)
}


def _imports_calendar_users(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module == "backside_caldav.db.calendar_users" or (
                    node.module == "backside_caldav.db" and "calendar_users" in names):
                return True
    return False


def test_only_scheduling_looks_up_logins_across_tenants() -> None:
    users = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if _imports_calendar_users(p)}
    assert users - {"db/calendar_users.py"}, "the check finds the importers"
    assert users <= ADDRESS_LOOKUP_ALLOWED, users - ADDRESS_LOOKUP_ALLOWED


def test_only_delivery_enters_a_tenant_it_found_by_address() -> None:
    """Outside delivery.py, every transaction opened for a tenant names the
    caller's own (a login's or a key's), never a CalendarUser's."""
    crossing = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if ".tenant_id)" in text and "CalendarUser" in text and "tenancy.transaction(" in text:
            crossing.append(str(path.relative_to(PACKAGE)))
    assert crossing == ["scheduling/delivery.py"]


def test_the_scheduling_tables_keep_tenants_apart(database_url: str) -> None:
    people = make_people(database_url)
    engine = db.get_app_engine(database_url)
    one, two = people.alice, people.dave
    with tenancy.transaction(engine, two.tenant_id) as conn:
        schedule_inbox.add(conn, two.tenant_id, two.username, "REQUEST", one.address, "u1",
                           "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    with tenancy.transaction(engine, one.tenant_id) as conn:
        itip_queue.enqueue(conn, one.tenant_id, "mail", "REQUEST", one.address,
                           people.outsider, "u1", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
        # Tenant one sees its queue and none of tenant two's inbox, even unfiltered.
        assert conn.execute(sa.text("SELECT count(*) FROM schedule_inbox")).scalar_one() == 0
        assert schedule_inbox.items(conn, two.tenant_id, two.username) == []
        mine = conn.execute(sa.text("SELECT DISTINCT tenant_id::text FROM itip_queue")).all()
        assert mine == [(one.tenant_id,)]
    with tenancy.transaction(engine, two.tenant_id) as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM itip_queue")).scalar_one() == 0
        assert [i.uid for i in schedule_inbox.items(conn, two.tenant_id, two.username)] == ["u1"]
    # Writing into another tenant's inbox is refused by the database itself.
    try:
        with tenancy.transaction(engine, one.tenant_id) as conn:
            schedule_inbox.add(conn, two.tenant_id, two.username, "REQUEST", one.address, "u2",
                               "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
        raise AssertionError("a row of another tenant was written")
    except sa.exc.ProgrammingError as exc:
        assert "row-level security" in str(exc)
