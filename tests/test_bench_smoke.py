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
                "sync_initial", "sync_nochange", "sync_after_edits", "week_etag", "week_data", "week_expand",
                "week_freebusy", "put_full", "peak_rss"}


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

    # Its scratch database is gone again.
    name = report["machine"]["database"]
    assert name.startswith("bench_")
    with psycopg.connect(admin_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
                            ).fetchone()
    assert left == (0,)
