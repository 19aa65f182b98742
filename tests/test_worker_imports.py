"""What a `serve` worker holds: the modules only the CLI, migrations or rare
paths need stay out of it (each worker would carry them for its lifetime)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

# Alembic, with Mako and Pygments (migrations: `serve` runs them in a child
# before the workers start); passlib and bcrypt (only logins imported from an
# htpasswd file, until their first sign-in); the MCP SDK (the first /mcp call).
NOT_IN_A_WORKER = ("alembic", "mako", "pygments", "passlib", "bcrypt", "mcp", "pydantic",
                   "starlette", "httpx")

PROBE = """
import json, sys
from backside_caldav.cli import worker_app
worker_app(sys.argv[1], None, 4)
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


def test_a_worker_builds_its_app_without_what_it_never_uses(database_url) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, database_url], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"sqlalchemy", "psycopg", "radicale", "icalendar"} <= loaded  # it did build
    assert sorted(loaded & set(NOT_IN_A_WORKER)) == []
