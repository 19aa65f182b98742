"""`python -m bench.readme`: put the latest run's tables into README.md.

The README's benchmark figures sit between two markers and are copied from
bench/results/latest.md as the run wrote them (its header, the table, the
per-size table and the more-cores curve), never typed by hand. `--check`
only says whether the README holds the latest run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- bench:latest:start (python -m bench.readme copies bench/results/latest.md here) -->"
END = "<!-- bench:latest:end -->"


def excerpt(latest: str) -> str:
    """latest.md without its title, findings and method notes (the README says how
    the figures are made, and latest.md keeps the notes)."""
    lines = latest.splitlines()
    out: list[str] = []
    skipping = False
    for line in lines[1:]:
        if line.startswith("## "):
            skipping = line.startswith(("## Findings", "## How it was measured"))
            if not skipping:
                out.append("#" + line)  # a level down, under the README's section
            continue
        if not skipping:
            out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def splice(readme: str, latest: str) -> str:
    head, start, rest = readme.partition(START)
    _old, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README.md has no {START!r} ... {END!r} block")
    return f"{head}{START}\n{excerpt(latest)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__)
    parser.add_argument("--latest", type=Path, default=ROOT / "bench" / "results" / "latest.md")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    readme = args.readme.read_text()
    updated = splice(readme, args.latest.read_text())
    if args.check:
        print("README.md holds the latest run" if updated == readme
              else "README.md does not hold bench/results/latest.md")
        return 0 if updated == readme else 1
    args.readme.write_text(updated)
    print(f"copied {args.latest} into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
