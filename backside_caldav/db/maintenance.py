"""Housekeeping that keeps the tables bounded: the trash, the change log, the
counters of failed logins and of API key rate limits, and the webhook delivery
record.

The trash and the change log are pruned tenant by tenant (each statement
names its tenant), so they work the same when the tables are distributed by
tenant; the counters are dropped by their window's end alone, and webhook
deliveries by their age.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backside_caldav.db import change_feed, key_limits, login_failures, occurrences, webhooks
from backside_caldav.db.tenancy import transaction
from backside_caldav.domain.login_limits import configured_limits

logger = logging.getLogger(__name__)

DEFAULT_TRASH_DAYS = 30
DEFAULT_CHANGE_LOG_DAYS = 60
DEFAULT_INBOX_DAYS = 60
DEFAULT_SENT_DAYS = 30


@dataclass
class MaintenanceReport:
    purged_events: int = 0
    pruned_changes: int = 0
    reindexed_series: int = 0
    pruned_scheduling: int = 0


def _tenants(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT id::text FROM tenants ORDER BY id")).scalars())


def purge_trash(engine: Engine, older_than_days: float = DEFAULT_TRASH_DAYS) -> int:
    """Remove soft-deleted events (and their overrides, attendees, links) for good."""
    total = 0
    for tenant in _tenants(engine):
        with transaction(engine, tenant) as conn:
            total += conn.execute(sa.text(
                "DELETE FROM events WHERE tenant_id = :t AND deleted_at IS NOT NULL "
                "AND deleted_at < now() - make_interval(secs => :s)"),
                {"t": tenant, "s": older_than_days * 86400}).rowcount
    return total


def prune_change_log(engine: Engine, older_than_days: float = DEFAULT_CHANGE_LOG_DAYS) -> int:
    """Drop old change-log entries and raise each calendar's sync floor past them,
    and the same for the tenant's change feed.

    A client holding a token from before the floor gets 403 valid-sync-token
    and resyncs fully, never a partial list; a service holding an older feed
    cursor gets 410.
    """
    total = 0
    for tenant in _tenants(engine):
        with transaction(engine, tenant) as conn:
            rows = conn.execute(sa.text(
                "WITH gone AS (DELETE FROM calendar_changes WHERE tenant_id = :t "
                "AND changed_at < now() - make_interval(secs => :s) "
                "RETURNING calendar_id, counter) "
                "SELECT calendar_id, max(counter), count(*) FROM gone GROUP BY calendar_id"),
                {"t": tenant, "s": older_than_days * 86400}).all()
            for calendar_id, floor, count in rows:
                total += count
                conn.execute(sa.text(
                    "UPDATE calendars SET sync_floor = greatest(sync_floor, :f) "
                    "WHERE tenant_id = :t AND id = :c"), {"t": tenant, "c": calendar_id, "f": floor})
            total += change_feed.prune(conn, tenant, older_than_days)
    return total


def prune_scheduling(engine: Engine, inbox_days: float = DEFAULT_INBOX_DAYS,
                     sent_days: float = DEFAULT_SENT_DAYS) -> int:
    """Drop inbox messages no client took (Thunderbird and DAVx5 never read the
    inbox: the event in the calendar is the delivery) and queue rows sent long
    ago. Unsent rows stay: `imip queue` shows why they failed."""
    total = 0
    for tenant in _tenants(engine):
        with transaction(engine, tenant) as conn:
            total += conn.execute(sa.text(
                "DELETE FROM schedule_inbox WHERE tenant_id = :t "
                "AND created_at < now() - make_interval(secs => :s)"),
                {"t": tenant, "s": inbox_days * 86400}).rowcount
            total += conn.execute(sa.text(
                "DELETE FROM itip_queue WHERE tenant_id = :t AND sent_at IS NOT NULL "
                "AND sent_at < now() - make_interval(secs => :s)"),
                {"t": tenant, "s": sent_days * 86400}).rowcount
    return total


def reindex(engine: Engine, now: datetime | None = None, batch: int = 500,
            max_batches: int = 1000) -> int:
    """Re-index series that other writers changed, whose next occurrence has
    passed, or whose one-year horizon is getting near. Several workers can run
    this at once: rows are taken with SKIP LOCKED."""
    at = now or datetime.now(timezone.utc)
    total = 0
    for tenant in _tenants(engine):
        for _ in range(max_batches):
            with transaction(engine, tenant) as conn:
                ids = occurrences.series_needing_index(conn, tenant, at, batch)
                for series_id in ids:
                    occurrences.reindex_series(conn, tenant, series_id, at)
            total += len(ids)
            if len(ids) < batch:
                break
    return total


def run_all(engine: Engine, trash_days: float = DEFAULT_TRASH_DAYS,
            change_log_days: float = DEFAULT_CHANGE_LOG_DAYS,
            now: datetime | None = None) -> MaintenanceReport:
    report = MaintenanceReport(purge_trash(engine, trash_days),
                               prune_change_log(engine, change_log_days),
                               reindex(engine, now), prune_scheduling(engine))
    key_limits.prune(engine)  # rate-limit counters of windows that have passed
    webhooks.prune_deliveries(engine)
    return report


PASS_LOCK = 0x6261636B  # session advisory lock: one periodic pass at a time


class PeriodicMaintenance:
    """Runs the maintenance pass in a daemon thread of each `serve` worker
    every `interval` s; the workers take turns (PASS_LOCK)."""

    def __init__(self, engine: Engine, interval: float = 60.0) -> None:
        self.engine = engine
        self.interval = interval
        # A daemon: it ends with its worker, and a pass cut off there rolls back.
        self._thread = threading.Thread(target=self._run, name="backside-maintenance",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a failed pass is retried next interval
                logger.warning("maintenance pass failed", exc_info=True)

    def run_once(self) -> bool:
        """One pass, unless another worker or server is running one right now."""
        with self.engine.connect() as conn:
            if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": PASS_LOCK}).scalar():
                return False
            try:
                reindex(self.engine)
                login_failures.prune(self.engine, configured_limits())
                key_limits.prune(self.engine)
                webhooks.prune_deliveries(self.engine)
                prune_scheduling(self.engine)
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": PASS_LOCK})
        return True
