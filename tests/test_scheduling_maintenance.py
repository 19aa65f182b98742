"""The maintenance pass prunes old scheduling rows: inbox messages no client
took and queue rows sent long ago; an unsent row stays, whatever its age."""

from __future__ import annotations

import psycopg
from scheduling_people import make_people

from backside_caldav.db import engines as db
from backside_caldav.db import itip_queue, maintenance, schedule_inbox, tenancy
from backside_caldav.db.settings import libpq_url

CAL = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"


def test_old_scheduling_rows_are_pruned(database_url: str) -> None:
    people = make_people(database_url)
    one, two = people.alice, people.dave
    engine = db.get_app_engine(database_url)
    with tenancy.transaction(engine, two.tenant_id) as conn:
        old_inbox = schedule_inbox.add(conn, two.tenant_id, two.username, "REQUEST",
                                       one.address, "old", CAL)
        new_inbox = schedule_inbox.add(conn, two.tenant_id, two.username, "REQUEST",
                                       one.address, "new", CAL)
    with tenancy.transaction(engine, one.tenant_id) as conn:
        sent = itip_queue.enqueue(conn, one.tenant_id, "mail", "REQUEST", one.address,
                                  people.outsider, "sent", CAL)
        unsent = itip_queue.enqueue(conn, one.tenant_id, "mail", "REQUEST", one.address,
                                    people.outsider, "unsent", CAL)
        itip_queue.mark_sent(conn, one.tenant_id, sent)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as sql:
        sql.execute("UPDATE schedule_inbox SET created_at = now() - interval '61 days' "
                    "WHERE href = %s", (old_inbox,))
        sql.execute("UPDATE itip_queue SET created_at = now() - interval '90 days', "
                    "sent_at = now() - interval '31 days' WHERE id = %s", (sent,))
        sql.execute("UPDATE itip_queue SET created_at = now() - interval '90 days' "
                    "WHERE id = %s", (unsent,))
        assert maintenance.prune_scheduling(db.get_engine(database_url)) >= 2
        inbox = {r[0] for r in sql.execute("SELECT href FROM schedule_inbox WHERE tenant_id = %s",
                                           (two.tenant_id,))}
        queue = {r[0] for r in sql.execute("SELECT id::text FROM itip_queue WHERE tenant_id = %s",
                                           (one.tenant_id,))}
    assert inbox == {new_inbox}
    assert queue == {unsent}
