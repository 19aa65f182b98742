"""The benchmark's quick mode runs end to end and reports every measurement.

Run as a subprocess, exactly as `./run.sh bench --quick` would, against the
suite's PostgreSQL server (the benchmark makes and drops its own database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
MEASUREMENTS = {"put_empty", "poll_ctag", "first_sync_davx5", "first_sync_thunderbird",
                "list_query", "sync_initial", "sync_nochange", "sync_after_edits", "week_etag", "week_data",
                "week_expand", "week_freebusy", "put_full", "api_list_week", "api_list_week_500",
                "api_read", "api_create", "api_patch", "mcp_list_week", "mcp_availability",
                "sched_invite", "sched_freebusy", "feed_latency", "poll_200_streams",
                "peak_rss"}
# Radicale's cell: n/a (no such API, no change feed)
NO_CALDAV_EQUIVALENT = {"api_list_week", "api_read", "api_patch", "feed_latency",
                        "poll_200_streams"}


def test_quick_benchmark_reports_every_measurement(admin_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "BACKSIDE_DATABASE_URL": admin_url}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--output-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("# backside-caldav vs")
    rows = {(row["key"], row["size"]): row for row in report["rows"]}
    assert {key for key, _ in rows} == MEASUREMENTS
    for (key, size), row in rows.items():
        assert size == 30
        for server in ("backside", "radicale"):
            result = row[server]
            if server == "radicale" and key in NO_CALDAV_EQUIVALENT:
                assert result["status"] == "n/a", (key, result)
                continue
            assert result["status"] == "ok", (key, server, result)
            assert result["median"] > 0, (key, server, result)
            assert result["runs"] >= 1
    # Both servers saw the same calendar and answered alike.
    info = report["info"]["30"]
    for key in ("week_results", "first_sync_items", "sync_after_edits_changed"):
        assert info["backside"][key] == info["radicale"][key], key
    assert info["backside"]["first_sync_items"] == 30
    assert info["backside"]["sync_after_edits_changed"] == 10
    assert info["backside"]["sync_initial_listed"] == info["radicale"]["sync_initial_listed"] == 30
    # The event API listed the week the CalDAV expand saw (plus what put_full added since).
    expanded = int(info["backside"]["week_results"].split(" / ")[1])
    assert info["backside"]["api_week_items"] >= expanded > 0
    radicale_put = rows[("put_full", 30)]["radicale"]["median"]
    assert rows[("api_create", 30)]["radicale"]["median"] == radicale_put
    assert rows[("api_patch", 30)]["backside"]["runs"] >= 1
    assert rows[("feed_latency", 30)]["backside"]["info"]["writes"] == 50
    assert rows[("poll_200_streams", 30)]["backside"]["info"]["open_streams"] == 200
    # Each invitation reached the other tenant's inbox and queued the guest's mail.
    invited = rows[("sched_invite", 30)]["backside"]
    assert invited["info"]["delivered"] == invited["info"]["mail_queued"] == invited["runs"]
    assert rows[("sched_freebusy", 30)]["radicale"]["median"] == (
        rows[("week_freebusy", 30)]["radicale"]["median"])

    # Every member of the calendar is listed by the listing query, on both servers.
    for server in ("backside", "radicale"):
        assert rows[("list_query", 30)][server]["info"]["listed"] == 30
    # The more-cores curve: each configuration answered both kinds of request.
    curve = report["scaling"]["points"]
    assert [(p["server"], p["workers"]) for p in curve[::2]] == [
        ("backside", 1), ("backside", 2), ("backside", 4), ("radicale", None)]
    assert all(p["answers"] > 0 and p["rate"] > 0 for p in curve)
    assert "More cores" in (tmp_path / "latest.md").read_text()

    # Its scratch database is gone again.
    name = report["machine"]["database"]
    assert name.startswith("bench_")
    with psycopg.connect(admin_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
                            ).fetchone()
    assert left == (0,)


def test_only_events_measures_the_event_api_rows(admin_url: str, tmp_path: Path) -> None:
    """`--only events`: the same loading, then only the event API's rows (and Radicale's
    CalDAV equivalents, measured for them)."""
    env = {**os.environ, "BACKSIDE_DATABASE_URL": admin_url}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--only", "events", "--output-dir",
         str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == {"put_empty", "api_list_week", "api_list_week_500", "api_read",
                         "api_create", "api_patch", "mcp_list_week", "mcp_availability",
                         "peak_rss"}
    for key, row in rows.items():
        assert row["backside"]["status"] == "ok", (key, row["backside"])
    assert rows["api_list_week_500"]["radicale"]["status"] == "ok"
    assert "calendar-query" in rows["api_list_week_500"]["radicale"]["note"]
    assert rows["api_create"]["radicale"]["status"] == "ok"
    assert rows["api_read"]["radicale"]["status"] == "n/a"
    assert "free-busy" in rows["mcp_availability"]["radicale"]["note"]
    assert report["settings"]["only"] == "events"
