"""The layering rules of DESIGN.md, checked on every import of the source tree.

Arrows point one way: domain <- db <- scheduling <- (request, service) <- (dav, api) <-
app, cli; service holds what the JSON API and the MCP tools share, scheduling what
every writer (CalDAV, the API, the MCP tools) sends when it changes a meeting.
An import that points the other way compiles and runs, and a loop it makes
shows up late (a function-level import to hide it, a module half-imported):
so the rules are checked here, on the source text, with `ast`. Every import
counts: module-level, inside functions and under `if TYPE_CHECKING:`, with
relative imports resolved against the importing module.

The package root `backside_caldav` (its `__init__`, which holds __version__)
belongs to no room: Python runs it before any submodule anyway, so importing
it adds no edge, as long as it imports nothing of the project itself, which
is a rule of its own here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("backside_caldav", "storage_plugin")
COMPOSERS = ("backside_caldav.app", "backside_caldav.cli", "backside_caldav.cli_keys",
             "backside_caldav.__main__")


@dataclass(frozen=True)
class Source:
    text: str
    is_package: bool  # an __init__.py: relative imports start from the module itself


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported, resolved
    line: int
    statement: str  # as written, for the message


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _room(module: str, *rooms: str) -> bool:
    return any(within(module, f"backside_caldav.{room}") for room in rooms)


@dataclass(frozen=True)
class Rule:
    text: str
    applies: Callable[[str], bool]  # to the importing module
    allows: Callable[[str, str], bool]  # (importer, target) -> allowed


def _is_root(target: str) -> bool:
    return target == "backside_caldav"


def _may_reach_dav_and_api(module: str, target: str) -> bool:
    if module in COMPOSERS or within(module, "storage_plugin"):
        return True
    return all(_room(module, room) or not _room(target, room) for room in ("dav", "api", "mcp"))


RULES: tuple[Rule, ...] = (
    Rule("the package root backside_caldav imports nothing of the project",
         _is_root, lambda _m, t: False),
    Rule("backside_caldav.domain.* imports nothing of backside_caldav outside domain",
         lambda m: _room(m, "domain"),
         lambda _m, t: _is_root(t) or _room(t, "domain")),
    Rule("backside_caldav.db.* imports only domain and db",
         lambda m: _room(m, "db"),
         lambda _m, t: _is_root(t) or _room(t, "domain", "db")),
    Rule("backside_caldav.request imports only domain and db",
         lambda m: _room(m, "request"),
         lambda _m, t: _is_root(t) or _room(t, "domain", "db", "request")),
    Rule("backside_caldav.scheduling.* imports only domain, db and scheduling",
         lambda m: _room(m, "scheduling"),
         lambda _m, t: _is_root(t) or _room(t, "domain", "db", "scheduling")),
    Rule("backside_caldav.dav.* imports only domain, db, request, scheduling and dav",
         lambda m: _room(m, "dav"),
         lambda _m, t: _is_root(t) or _room(t, "domain", "db", "request", "scheduling", "dav")),
    Rule("backside_caldav.service.* imports only domain, db, scheduling and service",
         lambda m: _room(m, "service"),
         lambda _m, t: _is_root(t) or _room(t, "domain", "db", "scheduling", "service")),
    Rule("backside_caldav.mcp.* imports only domain, db, service and mcp",
         lambda m: _room(m, "mcp"),
         lambda _m, t: _is_root(t) or _room(t, "domain", "db", "service", "mcp")),
    Rule("backside_caldav.api.* imports only domain, db, request, service and api",
         lambda m: _room(m, "api"),
         lambda _m, t: _is_root(t) or _room(t, "domain", "db", "request", "service", "api")),
    Rule("backside_caldav.server imports only domain",
         lambda m: _room(m, "server"),
         lambda _m, t: _is_root(t) or _room(t, "domain", "server")),
    Rule("nothing imports dav, api or mcp except modules inside them, backside_caldav.app, "
         "backside_caldav.cli, backside_caldav.__main__ and storage_plugin",
         lambda _m: True, _may_reach_dav_and_api),
    Rule("storage_plugin imports only backside_caldav.dav.storage",
         lambda m: within(m, "storage_plugin"),
         lambda _m, t: t == "backside_caldav.dav.storage" or within(t, "storage_plugin")),
)


def module_sources(root: Path = ROOT, packages: Iterable[str] = PACKAGES
                   ) -> dict[str, Source]:
    """Every module of the packages by dotted name (a package by its own name)."""
    found: dict[str, Source] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = Source(path.read_text(encoding="utf-8"), is_package)
    return found


def imports_of(module: str, source: Source, known: Iterable[str]) -> list[Import]:
    """The project modules one module imports, at any depth of its syntax tree.

    `from P import n` names the module P.n when that is a known module, else
    P (n is a name defined in P).
    """
    modules = set(known)
    tree = ast.parse(source.text, filename=module)
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, source.is_package, node.level, node.module)
            targets = [base if alias.name == "*" or f"{base}.{alias.name}" not in modules
                       else f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        statement = ast.get_source_segment(source.text, node) or ast.unparse(node)
        for target in targets:
            if any(within(target, p) for p in PACKAGES):
                found.append(Import(module, target, node.lineno, " ".join(statement.split())))
    return found


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module a relative `from` import starts from."""
    if level == 0:
        assert name is not None
        return name
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 >= len(parts):
        raise ValueError(f"{module}: relative import beyond the top-level package")
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([name] if name else []))


@dataclass(frozen=True)
class Violation:
    imp: Import
    rule: Rule

    def __str__(self) -> str:
        return (f"{self.imp.module} imports {self.imp.target} (line {self.imp.line}: "
                f"`{self.imp.statement}`), breaking the rule: {self.rule.text}")


def violations(sources: Mapping[str, Source]) -> list[Violation]:
    """One per import and rule it breaks; str() names the module, the import, the rule."""
    found: list[Violation] = []
    for module, source in sorted(sources.items()):
        for imp in imports_of(module, source, sources):
            found.extend(Violation(imp, rule) for rule in RULES
                         if rule.applies(module) and not rule.allows(module, imp.target))
    return found


# The tree itself.

def test_the_tree_keeps_the_layering_rules() -> None:
    sources = module_sources()
    assert {"backside_caldav.domain.recurrence", "backside_caldav.db.tenancy",
            "backside_caldav.api.app", "backside_caldav.dav.storage",
            "storage_plugin"} <= set(sources), "the walk missed the project's modules"
    broken = [str(v) for v in violations(sources)]
    assert not broken, "imports against the layering rules:\n" + "\n".join(broken)


MAX_MODULE_LINES = 400  # a module a reader can hold in mind; migrations aside


def test_no_module_is_over_the_size_a_reader_can_hold() -> None:
    sizes = {path.relative_to(ROOT): len(path.read_text().splitlines())
             for package in PACKAGES for path in (ROOT / package).rglob("*.py")
             if "migrations" not in path.parts}
    assert len(sizes) > 50, "the walk missed the project's modules"
    over = {str(path): lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by capability): {over}"


# The checker, on made-up sources: each rule can fail.

def _check(modules: dict[str, str]) -> list[str]:
    sources = {name.removesuffix(".__init__"): Source(text, name.endswith(".__init__"))
               for name, text in modules.items()}
    return [str(v) for v in violations(sources)]


def _tree(**extra: str) -> dict[str, str]:
    """A small project: one module per room, importing only what it may."""
    base = {
        "backside_caldav.__init__": '__version__ = "0"\n',
        "backside_caldav.domain.__init__": "",
        "backside_caldav.domain.records": "import json\n",
        "backside_caldav.db.__init__": "",
        "backside_caldav.db.rows": "from backside_caldav.domain import records\n",
        "backside_caldav.request": "from backside_caldav.db import rows\n",
        "backside_caldav.dav.__init__": "",
        "backside_caldav.dav.storage": "from backside_caldav import request\n"
                                       "from . import glue\n",
        "backside_caldav.dav.glue": "from ..db.rows import x\n",
        "backside_caldav.api.__init__": "from .app import SidecarApp\n",
        "backside_caldav.api.app": "from backside_caldav import __version__\n"
                                   "import backside_caldav.db.rows\n",
        "backside_caldav.server": "from backside_caldav.domain.records import R\n",
        "backside_caldav.app": "from backside_caldav.api import SidecarApp\n"
                               "from backside_caldav.dav import storage\n",
        "storage_plugin.__init__": "from backside_caldav.dav.storage import Storage\n",
    }
    return {**base, **extra}


def test_a_tree_that_keeps_the_rules_passes() -> None:
    assert _check(_tree()) == []


def test_a_domain_module_importing_db_is_reported() -> None:
    broken = _check(_tree(**{
        "backside_caldav.domain.records": "from backside_caldav.db import rows\n"}))
    assert broken == [
        "backside_caldav.domain.records imports backside_caldav.db.rows (line 1: "
        "`from backside_caldav.db import rows`), breaking the rule: "
        "backside_caldav.domain.* imports nothing of backside_caldav outside domain"]


@pytest.mark.parametrize(("module", "text", "expected"), [
    # In a module, `..` is the parent package; in a package, the package's parent.
    ("backside_caldav.domain.records", "from ..db import x\n",
     "backside_caldav.domain.records imports backside_caldav.db (line 1: `from ..db import x`)"),
    ("backside_caldav.domain.__init__", "from .. import db\n",
     "backside_caldav.domain imports backside_caldav.db (line 1: `from .. import db`)"),
])
def test_a_relative_import_is_resolved_and_reported(module: str, text: str,
                                                    expected: str) -> None:
    broken = _check(_tree(**{module: text}))
    assert len(broken) == 1 and broken[0].startswith(expected), broken


def test_a_function_level_import_is_reported() -> None:
    broken = _check(_tree(**{"backside_caldav.server": (
        "def post_fork():\n"
        "    if True:\n"
        "        from backside_caldav.db import rows\n"
        "    return rows\n")}))
    assert broken == [
        "backside_caldav.server imports backside_caldav.db.rows (line 3: "
        "`from backside_caldav.db import rows`), breaking the rule: "
        "backside_caldav.server imports only domain"]


def test_each_room_is_held_to_its_rule() -> None:
    cases = {
        "backside_caldav.db.rows": ("import backside_caldav.request\n",
                                    "backside_caldav.db.* imports only domain and db"),
        "backside_caldav.request": ("from backside_caldav.dav import storage\n",
                                    "backside_caldav.request imports only domain and db"),
        "backside_caldav.dav.glue": ("from backside_caldav.api.app import x\n",
                                     "backside_caldav.dav.* imports only domain, db, "
                                     "request, scheduling and dav"),
        "backside_caldav.api.app": ("from backside_caldav import server\n",
                                    "backside_caldav.api.* imports only domain, db, "
                                    "request, service and api"),
        "backside_caldav.service.events": ("from backside_caldav.api import http\n",
                                           "backside_caldav.service.* imports only domain, db, "
                                           "scheduling and service"),
        "backside_caldav.scheduling.delivery": ("from backside_caldav.service import events\n",
                                                "backside_caldav.scheduling.* imports only "
                                                "domain, db and scheduling"),
        "storage_plugin.__init__": ("from backside_caldav.dav import glue\n",
                                    "storage_plugin imports only backside_caldav.dav.storage"),
        "backside_caldav.__init__": ("from backside_caldav.domain import records\n",
                                     "the package root backside_caldav imports nothing "
                                     "of the project"),
    }
    for module, (text, rule) in cases.items():
        broken = _check(_tree(**{module: text}))
        assert broken and all(module.removesuffix(".__init__") + " imports " in line
                              for line in broken), (module, broken)
        assert any(line.endswith("breaking the rule: " + rule) for line in broken), broken


def test_only_the_composers_import_dav_and_api() -> None:
    rule = "nothing imports dav, api or mcp except modules inside them"
    broken = _check(_tree(**{"backside_caldav.tools": "from backside_caldav.api import app\n"}))
    assert len(broken) == 1 and rule in broken[0]
    assert "backside_caldav.tools imports backside_caldav.api.app" in broken[0]
    across = _check(_tree(**{"backside_caldav.api.app": "from backside_caldav.dav import glue\n"}))
    assert len(across) == 2 and any(rule in line for line in across)
    for composer in COMPOSERS:
        assert _check(_tree(**{composer: "from backside_caldav.dav import storage\n"
                                         "from backside_caldav.api.app import x\n"})) == []


def test_a_type_checking_import_counts() -> None:
    broken = _check(_tree(**{"backside_caldav.db.rows": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from backside_caldav.dav.storage import Storage\n")}))
    assert len(broken) == 2  # the db rule and the dav/api rule
