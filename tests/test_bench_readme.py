"""bench/readme.py: the README's benchmark block is the latest run's, copied."""

from __future__ import annotations

import pytest

from bench import readme

LATEST = """# backside-caldav vs stock Radicale

- date: 2026-12-05T07:00:00+00:00
- code: abc1234

| measurement | events | backside-caldav | Radicale 3.9 (filesystem) | backside advantage |
|---|---:|---:|---:|---:|
| poll | 1,000 | 1.80 ms | 60.0 ms | 33.3x |

## Per size

| events | server |
|---:|---|
| 1,000 | backside-caldav |

## More cores: 8 concurrent clients, 1,000 events

| server | poll |
|---|---:|
| backside-caldav, --workers 1 | 450 req/s |

## Findings of this run

- a finding

## How it was measured

- a note
"""


def test_the_block_gets_the_run_and_nothing_around_it_changes() -> None:
    before = f"intro\n{readme.START}\nold table\n{readme.END}\n\nafter\n"
    after = readme.splice(before, LATEST)
    assert after.startswith(f"intro\n{readme.START}\n- date: 2026-12-05T07:00:00+00:00\n")
    assert after.endswith(f"{readme.END}\n\nafter\n")
    assert "old table" not in after
    assert "| poll | 1,000 | 1.80 ms | 60.0 ms | 33.3x |" in after
    assert "### Per size" in after and "### More cores" in after  # a level down
    assert "a finding" not in after and "a note" not in after and "# backside" not in after
    assert readme.splice(after, LATEST) == after  # copying again changes nothing


def test_a_readme_without_the_block_is_refused() -> None:
    with pytest.raises(ValueError, match="no"):
        readme.splice("no markers here\n", LATEST)


def test_the_committed_readme_holds_the_committed_run() -> None:
    """Every figure of the README's table comes from bench/results/latest.md:
    after `./run.sh bench`, `python -m bench.readme` copies them over."""
    text = readme.ROOT.joinpath("README.md").read_text()
    latest = readme.ROOT.joinpath("bench", "results", "latest.md").read_text()
    assert readme.splice(text, latest) == text
