"""The measurements: the same client requests, timed the same way on each server.

Every step is bounded twice: by a per-request timeout (a server that stops
answering cannot hang the run) and by a runs / time budget (fast requests
get many runs, slow ones still finish in time).
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import data
from .dav import DavClient, DavError, ServerTimeout, parse_multistatus


@dataclass(frozen=True)
class Spec:
    """What one measurement is called and how to read its number."""

    key: str
    label: str
    unit: str  # "ms", "s", "events/s" or "MiB"
    higher_is_better: bool = False


SPECS = [
    Spec("put_empty", "PUT new events one by one, empty calendar", "events/s", True),
    Spec("poll_ctag", "PROPFIND depth 0 getctag + sync-token (poll)", "ms"),
    Spec("first_sync_davx5", "first sync DAVx5-style: PROPFIND + multiget x10", "s"),
    Spec("first_sync_thunderbird", "first sync Thunderbird-style: PROPFIND + multiget x100", "s"),
    Spec("list_query", "calendar-query, only a VEVENT comp-filter (list a calendar), "
                       "getetag", "ms"),
    Spec("sync_initial", "sync-collection without a token (a first sync's listing)", "ms"),
    Spec("sync_nochange", "sync-collection, no change", "ms"),
    Spec("sync_after_edits", "sync-collection after 10 edits", "ms"),
    Spec("week_etag", "week calendar-query, getetag only", "ms"),
    Spec("week_data", "week calendar-query, calendar-data", "ms"),
    Spec("week_expand", "week calendar-query, calendar-data + expand", "ms"),
    Spec("week_freebusy", "week free-busy-query", "ms"),
    Spec("put_full", "PUT new events one by one, full calendar", "events/s", True),
    # The event API (/api/v1/events; bench/events_api.py). Radicale has no such API:
    # its cells are the CalDAV request that does the same, or n/a where none does.
    Spec("api_list_week", "API list one week, limit 50 (Radicale: no paged equivalent)", "ms"),
    Spec("api_list_week_500", "API list one week, limit 500 (Radicale: week calendar-query, "
                              "calendar-data)", "ms"),
    Spec("api_read", "API read one event (Radicale: no equivalent)", "ms"),
    Spec("api_create", "API create one by one, full calendar (Radicale: PUT new events)",
         "events/s", True),
    Spec("api_patch", "API patch title + If-Match one by one (Radicale: no equivalent)",
         "events/s", True),
    # MCP (bench/mcp_calls.py): a tools/call over streamable HTTP.
    Spec("mcp_list_week", "MCP events_list, one week, limit 50 (Radicale: week "
                          "calendar-query, calendar-data)", "ms"),
    Spec("mcp_availability", "MCP events_check_availability, one week (Radicale: week "
                             "free-busy-query)", "ms"),
    # The change feed (bench/change_feed.py).
    Spec("sched_invite", "organizer PUTs a meeting with 3 guests: colleague, other tenant, "
         "outside (Radicale: the same PUT, nothing sent)", "events/s", True),
    Spec("sched_freebusy", "outbox free-busy POST, one week, 2 people (Radicale: week "
         "free-busy-query)", "ms"),
    Spec("feed_latency", "change feed: SQL commit to event on an open stream", "ms"),
    Spec("poll_200_streams", "PROPFIND getctag poll with 200 open change streams (compare "
                             "the poll row)", "ms"),
    Spec("peak_rss", "peak RSS of the server processes (VmHWM, summed)", "MiB"),
]
SPEC_BY_KEY = {s.key: s for s in SPECS}
# The steps of each group, in the order they run (`--only GROUP` runs one group).
GROUPS = {
    "caldav": ["poll_ctag", "first_sync_davx5", "first_sync_thunderbird", "list_query",
               "sync_initial", "sync_nochange", "sync_after_edits", "week_etag", "week_data", "week_expand",
               "week_freebusy", "put_full"],
    "events": ["api_list_week", "api_list_week_500", "api_read", "api_create", "api_patch",
               "mcp_list_week", "mcp_availability"],
    "scheduling": ["sched_invite", "sched_freebusy"],
    "feed": ["poll_ctag", "feed_latency", "poll_200_streams"],  # the poll again, to compare
}
MEASURED_STEPS = list(dict.fromkeys(step for steps in GROUPS.values() for step in steps))
SLOW_RUN_S = 1.0  # a request slower than this has its first run counted, not discarded


@dataclass
class Result:
    """One measurement on one server at one size."""

    status: str  # "ok", "timeout", "error" or "skipped"
    median: float | None = None
    p95: float | None = None
    runs: int = 0
    note: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Settings:
    """How hard to try: repetitions, budgets and time bounds."""

    put_sample: int = 100
    put_budget_s: float = 10.0  # a PUT-rate sample stops early after this long
    min_runs: int = 3
    max_runs: int = 20
    budget_s: float = 5.0  # keep repeating until this long and min_runs (cap: 3x)
    sync_max_runs: int = 5
    sync_budget_s: float = 10.0  # the same for the (slow) first-sync measurements
    load_threads: int = 4
    timeout_s: float = 120.0  # per request, and per run of a multi-request measurement
    warmup_timeout_s: float = 600.0  # the unmeasured warm-up after loading


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: with few runs it is an observed value, not an invention."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarize(values: list[float], scale: float = 1.0, **info: Any) -> Result:
    scaled = [v * scale for v in values]
    return Result("ok", statistics.median(scaled), percentile(scaled, 95), len(scaled),
                  info=info)


def repeat(run: Callable[[], float], min_runs: int, max_runs: int, budget_s: float,
           warmup: bool = True) -> list[float]:
    """Call run (which returns seconds) until there are enough runs or time is up.

    The warm-up run is discarded when it is fast; a run slower than SLOW_RUN_S
    is dominated by real work (the caches were warmed after loading), so it
    counts instead of being paid for twice. No run starts that would take the
    measurement past three times the budget.
    """
    values: list[float] = []
    started = time.monotonic()
    if warmup:
        first = run()
        if first >= SLOW_RUN_S:
            values.append(first)
    while len(values) < max_runs:
        spent = time.monotonic() - started
        if values and len(values) >= min_runs and spent >= budget_s:
            break
        if values and spent + max(values) > 3 * budget_s:
            break
        values.append(run())
    return values


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def sequential_rate(requests: list[Callable[[], Any]], budget_s: float, verb: str) -> Result:
    """Requests one after another by one client: the rate, and each one's latency.

    Stops early once the requests have taken budget_s in all.
    """
    latencies: list[float] = []
    for request in requests:
        latencies.append(timed(request)[0])
        if sum(latencies) > budget_s:
            break
    each = summarize(latencies, 1000.0)
    note = "" if len(latencies) == len(requests) else \
        f"{len(latencies)} of {len(requests)} {verb}s (stopped after {budget_s:g} s)"
    return Result("ok", len(latencies) / sum(latencies), None, len(latencies), note,
                  {"verb": verb, "latency_median_ms": each.median,
                   "latency_p95_ms": each.p95})


class Scenario:
    """All measurements for one server and one calendar size, in a fixed order.

    The phases (put_empty, load, measure, finish) are separate so the runner
    can overlap one server's unmeasured loading with the other's.
    """

    def __init__(self, name: str, client: DavClient, events: list[data.Event],
                 settings: Settings, bulk_loader: Callable[[list[data.Event]], None] | None = None,
                 maintenance: Callable[[], None] | None = None) -> None:
        self.name = name
        self.c = client
        self.events = events
        self.s = settings
        self.bulk_loader = bulk_loader  # None: PUT over HTTP like everything else
        self.maintenance = maintenance  # run whenever the calendar has doubled in size
        self.extra_events = data.generate(settings.put_sample, prefix=f"x{len(events)}")
        self.edit_round = 0
        # Steps implemented outside this class (the event API's), by key.
        self.extra_steps: dict[str, Callable[[], Result | None]] = {}
        self.info: dict[str, Any] = {}
        self.results: dict[str, Result] = {}
        self.stopped_by = ""
        self.cancel = threading.Event()

    # --- running steps --------------------------------------------------------------

    def attempt(self, key: str) -> None:
        """Run one step; after a timeout or an error every later step is skipped."""
        if self.stopped_by:
            if key in SPEC_BY_KEY:
                self.results[key] = Result("skipped", note=f"skipped after {self.stopped_by}")
            return
        try:
            outcome = self.extra_steps[key]() if key in self.extra_steps else getattr(self, key)()
        except ServerTimeout:
            self.stopped_by = f"a timeout in {key}"
            self.info["timed_out"] = self.stopped_by
            if key in SPEC_BY_KEY:
                self.results[key] = Result("timeout", note=f"timeout >{self.s.timeout_s:g} s")
            return
        except DavError as exc:
            # A wrong answer or a dead server: report it, do not lose the other results.
            if self.cancel.is_set():
                raise KeyboardInterrupt from exc
            self.stopped_by = f"an error in {key}"
            self.info["error"] = f"{key}: {str(exc)[:200]}"
            if key in SPEC_BY_KEY:
                self.results[key] = Result("error", note=str(exc)[:120])
            return
        if isinstance(outcome, Result):
            self.results[key] = outcome

    def measure_all(self, steps: list[str] = MEASURED_STEPS) -> None:
        for key in steps:
            if self.cancel.is_set():
                raise KeyboardInterrupt
            self.attempt(key)
        if "week_expand" in steps:
            self.attempt("expand_probe")

    def finish(self, peak_rss_mib: Callable[[], float]) -> dict[str, Result]:
        """Add the memory high-water mark and mark what never ran."""
        try:
            self.results["peak_rss"] = Result("ok", peak_rss_mib(), None, 1,
                                              "peak until it stopped" if self.stopped_by else "")
        except (OSError, RuntimeError) as exc:
            self.results["peak_rss"] = Result("error", note=f"no VmHWM: {exc}")
        for spec in SPECS:
            self.results.setdefault(spec.key, Result("skipped",
                                                     note=f"skipped after {self.stopped_by}"))
        return self.results

    # --- loading (not measured) -----------------------------------------------------

    def load(self) -> None:
        """Fill the calendar: parallel PUTs, or the server's own files; then warm up."""
        rest = self.events[self.s.put_sample:]
        seconds, _ = timed(lambda: self._load(rest))
        self.info["load_s"] = round(seconds, 1)
        self.info["load_method"] = "files" if self.bulk_loader else "PUT"
        # The same warm-up for both servers: one full listing and one poll. Radicale
        # builds its item cache and sync history here when its files were written.
        seconds, listing = timed(lambda: self.c.list_etags(self.s.warmup_timeout_s))
        self.c.poll(self.s.warmup_timeout_s)
        self.info["warmup_s"] = round(seconds, 1)
        count = len(self.resource_hrefs(listing.content))
        if count != len(self.events):
            raise RuntimeError(f"{self.name}: calendar holds {count} items, "
                               f"expected {len(self.events)}")

    def _load(self, events: list[data.Event]) -> None:
        if self.bulk_loader is not None:
            self.bulk_loader(events)
            return

        def put(event: data.Event) -> None:
            if not self.cancel.is_set():
                self.c.put(event.href, event.ics())

        loaded = self.s.put_sample
        with ThreadPoolExecutor(self.s.load_threads) as pool:
            while events and not self.cancel.is_set():
                # Up to the next doubling of the calendar, then maintenance (ANALYZE).
                take = max(loaded, 500)
                for _ in pool.map(put, events[:take]):
                    pass
                loaded += len(events[:take])
                events = events[take:]
                if self.maintenance is not None:
                    self.maintenance()

    def resource_hrefs(self, propfind_answer: bytes) -> list[str]:
        """The calendar's members (with an etag), not the calendar itself."""
        own = self.c.calendar_path.rstrip("/")
        return [h for h in parse_multistatus(propfind_answer).etags
                if self.c.href_path(h).rstrip("/") != own]

    # --- the measurements -------------------------------------------------------------

    def _put_many(self, events: list[data.Event]) -> Result:
        """Sequential PUTs of new events, as a client creating them one by one."""
        return sequential_rate([lambda e=e: self.c.put(e.href, e.ics()) for e in events],
                               self.s.put_budget_s, "PUT")

    def put_empty(self) -> Result:
        return self._put_many(self.events[:self.s.put_sample])

    def put_full(self) -> Result:
        return self._put_many(self.extra_events)

    def poll_ctag(self) -> Result:
        return summarize(self._repeat(lambda: timed(self.c.poll)[0]), 1000.0)

    def _first_sync(self, batch: int) -> Result:
        counts: list[int] = []

        def run() -> float:
            started = time.perf_counter()
            hrefs = self.resource_hrefs(self.c.list_etags().content)
            got = 0
            for i in range(0, len(hrefs), batch):
                answer = self.c.multiget(hrefs[i:i + batch])
                got += answer.content.count(b"BEGIN:VCALENDAR")
                if time.perf_counter() - started > self.s.timeout_s:
                    raise ServerTimeout(f"first sync took over {self.s.timeout_s:g} s")
            counts.append(got)
            return time.perf_counter() - started

        values = repeat(run, 1, self.s.sync_max_runs, self.s.sync_budget_s, warmup=False)
        return summarize(values, items=counts[-1])

    def first_sync_davx5(self) -> Result:
        return self._first_sync(10)

    def first_sync_thunderbird(self) -> Result:
        return self._first_sync(100)

    def sync_initial(self) -> Result:
        """DAVx5's first step where sync-collection is offered: every member's etag."""
        listed: list[int] = []

        def run() -> float:
            seconds, answer = timed(lambda: self.c.sync_collection(""))
            listed.append(len(parse_multistatus(answer.content).hrefs))
            return seconds

        return summarize(self._repeat(run), 1000.0, listed=min(listed))

    def list_query(self) -> Result:
        """The listing a client without sync-collection sends: every event's etag."""
        listed: list[int] = []

        def run() -> float:
            seconds, answer = timed(self.c.listing_query)
            listed.append(len(parse_multistatus(answer.content).hrefs))
            return seconds

        return summarize(self._repeat(run), 1000.0, listed=min(listed))

    def sync_nochange(self) -> Result:
        token = self.c.poll().sync_token
        changed: list[int] = []

        def run() -> float:
            seconds, answer = timed(lambda: self.c.sync_collection(token))
            changed.append(len(parse_multistatus(answer.content).hrefs))
            return seconds

        return summarize(self._repeat(run), 1000.0, changed=max(changed))

    def sync_after_edits(self) -> Result:
        """Each run: remember the token, PUT 10 edits (untimed), time the sync from it."""
        changed: list[int] = []

        def run() -> float:
            token = self.c.poll().sync_token
            self.edit_round += 1
            for i in range(10):
                event = self.events[(self.edit_round * 10 + i) * 7 % len(self.events)]
                self.c.put(event.href, event.ics(revision=self.edit_round), new=False)
            seconds, answer = timed(lambda: self.c.sync_collection(token))
            changed.append(len(parse_multistatus(answer.content).hrefs))
            return seconds

        values = repeat(run, self.s.min_runs, min(self.s.max_runs, 10), self.s.budget_s,
                        warmup=False)
        return summarize(values, 1000.0, changed=min(changed))

    def _week(self, request: Callable[[], Any], count: Callable[[bytes], int],
              warmup: bool = True) -> Result:
        counts: list[int] = []

        def run() -> float:
            seconds, answer = timed(request)
            counts.append(count(answer.content))
            return seconds

        return summarize(self._repeat(run, warmup), 1000.0, results=counts[-1])

    def week_etag(self) -> Result:
        return self._week(lambda: self.c.calendar_query(data.WEEK_START, data.WEEK_END),
                          lambda body: len(parse_multistatus(body).hrefs))

    def week_data(self) -> Result:
        return self._week(lambda: self.c.calendar_query(data.WEEK_START, data.WEEK_END,
                                                        data=True),
                          lambda body: len(parse_multistatus(body).hrefs))

    def week_expand(self) -> Result:
        # calendar-data alone: Radicale 3.9 expands once per requested property, and
        # asking for getetag too trips a Radicale bug on backside (see expand_probe).
        # No warm-up: it parses every item each time, nothing is cached between runs.
        return self._week(lambda: self.c.calendar_query(data.WEEK_START, data.WEEK_END,
                                                        expand=True, etag=False),
                          lambda body: body.count(b"BEGIN:VEVENT"), warmup=False)

    def week_freebusy(self) -> Result:
        return self._week(lambda: self.c.free_busy(data.WEEK_START, data.WEEK_END),
                          lambda body: body.count(b"FREEBUSY"))

    def expand_probe(self) -> None:
        """Record (not time) whether getetag + expanded calendar-data works."""
        expand = self.results.get("week_expand", Result("skipped"))
        if expand.status != "ok" or (expand.median or 0) > 10000:
            return  # too slow at this size to ask again; the answer does not depend on size
        try:
            self.c.calendar_query(data.WEEK_START, data.WEEK_END, expand=True)
            self.info["expand_with_getetag"] = "ok"
        except ServerTimeout:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded as a finding
            status = re.search(r"HTTP \d+", str(exc))
            self.info["expand_with_getetag"] = status.group(0) if status else str(exc)[:60]

    def _repeat(self, run: Callable[[], float], warmup: bool = True) -> list[float]:
        return repeat(run, self.s.min_runs, self.s.max_runs, self.s.budget_s, warmup)


def write_files(folder: Path, events: list[data.Event], cancel: threading.Event) -> None:
    """Stock Radicale's own layout: one <href> file per resource in the collection."""
    for event in events:
        if cancel.is_set():
            return
        (folder / event.href).write_text(event.ics(), encoding="utf-8", newline="")
