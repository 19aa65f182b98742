"""Turn results into the console table, latest.json and latest.md.

The ratio column always reads "how many times better backside-caldav is"
(Radicale time / backside time, backside rate / Radicale rate), so a number
above 1 favours backside whatever the unit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import scaling
from .measure import SPECS, Result, Spec

SERVERS = ("backside", "radicale")
TITLES = {"backside": "backside-caldav", "radicale": "Radicale 3.9 (filesystem)"}


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_result(spec: Spec, result: dict[str, Any]) -> str:
    """One cell: median with unit, p95 where there were enough runs to have one."""
    status = result["status"]
    if status == "timeout":
        return result["note"] or "timeout"
    if status == "error":
        code = re.search(r"HTTP \d+", result["note"])
        return "error" + (f" ({code.group(0)})" if code else "")
    if status != "ok":
        return status
    median = result["median"]
    if spec.unit == "events/s":
        text = f"{_number(median)} events/s"
        info = result["info"]
        p95 = info.get("latency_p95_ms", info.get("put_latency_p95_ms"))  # older JSON: PUT
        verb = info.get("verb", "PUT")
        return text + (f" (p95 {verb} {_number(p95)} ms)" if p95 is not None else "")
    if spec.unit == "MiB":
        return f"{median:.0f} MiB"
    text = f"{_number(median)} {spec.unit}"
    if result["runs"] > 1 and result["p95"] is not None:
        text += f" (p95 {_number(result['p95'])})"
    return text


def ratio(spec: Spec, backside: dict[str, Any], radicale: dict[str, Any],
          timeout_s: float) -> tuple[float | None, str]:
    """Times better backside is; a Radicale timeout gives a lower bound."""
    if backside["status"] != "ok" or not backside["median"]:
        return None, "-"
    b = backside["median"]
    if radicale["status"] == "timeout" and not spec.higher_is_better:
        bound_in_unit = timeout_s * (1000.0 if spec.unit == "ms" else 1.0)
        return None, f">{_number(bound_in_unit / b)}x"
    if radicale["status"] != "ok" or not radicale["median"]:
        return None, "-"
    r = radicale["median"]
    value = b / r if spec.higher_is_better else r / b
    return value, f"{_number(value)}x"


def build_rows(results: dict[int, dict[str, dict[str, Result]]], timeout_s: float,
               keys: set[str] | None = None) -> list[dict[str, Any]]:
    """One row per measurement (all, or those in keys) and size, as stored in latest.json."""
    rows = []
    for spec in SPECS:
        if keys is not None and spec.key not in keys:
            continue
        for size in sorted(results):
            cells = {name: results[size][name][spec.key].to_json() for name in SERVERS}
            value, text = ratio(spec, cells["backside"], cells["radicale"], timeout_s)
            rows.append({"key": spec.key, "label": spec.label, "unit": spec.unit,
                         "higher_is_better": spec.higher_is_better, "size": size,
                         "backside": cells["backside"], "radicale": cells["radicale"],
                         "ratio": value, "ratio_text": text})
    return rows


def _table(rows: list[dict[str, Any]]) -> list[list[str]]:
    by_key = {s.key: s for s in SPECS}
    table = [["measurement", "events", TITLES["backside"], TITLES["radicale"],
              "backside advantage"]]
    for row in rows:
        spec = by_key[row["key"]]
        table.append([spec.label, f"{row['size']:,}", format_result(spec, row["backside"]),
                      format_result(spec, row["radicale"]), row["ratio_text"]])
    return table


def console_table(rows: list[dict[str, Any]]) -> str:
    table = _table(rows)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for n, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) if i == 4 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """latest.md: the table, the machine, and what the numbers do not show."""
    table = _table(report["rows"])
    out = ["# backside-caldav vs stock Radicale", ""]
    m = report["machine"]
    out += [f"- date: {m['date']}",
            f"- machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
            f"load average at start {m['loadavg_start']}, at end {m.get('loadavg_end', '?')}",
            f"- Python {m['python']}, Radicale {m['radicale']}, backside-caldav {m['backside']}, "
            f"PostgreSQL {m['postgres']} ({m['postgres_where']}, autovacuum "
            f"{m.get('autovacuum', '?')})",
            f"- code: {m.get('code', '?')}",
            f"- wall time of the run: {report['wall_time_s']:.0f} s",
            ""]
    out.append("| " + " | ".join(table[0]) + " |")
    out.append("|" + "|".join(["---", "---:", "---:", "---:", "---:"]) + "|")
    for r in table[1:]:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    out += ["", "## Per size", ""]
    out.append("| events | server | loaded by | load s | warm-up s | week results "
               "(etag / expanded VEVENTs) | getetag + expand | on disk MiB |")
    out.append("|---:|---|---|---:|---:|---|---|---:|")
    for size, per_server in sorted(report["info"].items(), key=lambda kv: int(kv[0])):
        for name in SERVERS:
            i = per_server.get(name, {})
            out.append(f"| {int(size):,} | {TITLES[name]} | {i.get('load_method', '-')} | "
                       f"{i.get('load_s', '-')} | {i.get('warmup_s', '-')} | "
                       f"{i.get('week_results', '-')} | {i.get('expand_with_getetag', '-')} | "
                       f"{i.get('disk_mib', '-')} |")
    curve = report.get("scaling", {})
    if curve.get("points"):
        out += [""] + scaling.markdown(curve["points"], curve["events"])
    if report["findings"]:
        out += ["", "## Findings of this run", ""] + [f"- {n}" for n in report["findings"]]
    out += ["", "## How it was measured", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(out) + "\n"


def write(report: dict[str, Any], output_dir: Path) -> tuple[Path, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / "latest.json"
    md_path = output_dir / "latest.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
