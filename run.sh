#!/usr/bin/env bash
# One command to set up and serve, one to set up and test:
#   ./run.sh serve [--host H] [--port P]    CalDAV on 127.0.0.1:5232
#   ./run.sh test [pytest args]             ruff + the test suite
#   ./run.sh bench [args]                   the benchmark against stock Radicale
# Uses $BACKSIDE_DATABASE_URL when set, else an embedded PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV=".venv"

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test]"
        touch "$stamp"
    fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
    serve)
        setup
        exec "$VENV/bin/backside-caldav" serve "$@"
        ;;
    test)
        setup
        "$VENV/bin/ruff" check backside_caldav storage_plugin tests $( [ -d bench ] && echo bench )
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    bench)
        setup
        exec "$VENV/bin/python" -m bench.run "$@"
        ;;
    setup)
        setup
        ;;
    *)
        echo "usage: ./run.sh serve|test|bench|setup [args]" >&2
        exit 2
        ;;
esac
