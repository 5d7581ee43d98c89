"""The floors of the package hold: a lower floor never imports a higher one, and no modules import each other.

runtime (1) < clients (2) < pipeline (3) < ops, daemons (4) < cli, web (5).  ops and daemons share a
floor and do not import each other, nor do cli and web.  Inside pipeline, a stage folder (catalog, live,
download, upload, chat, record) builds on the shared modules (pipeline/*.py), which never import a stage.
Every import counts, wherever it is written (inside a function or under TYPE_CHECKING too).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "vodtender"
ROOT = Path(__file__).resolve().parents[2]
FLOORS = {"runtime": 1, "clients": 2, "pipeline": 3, "ops": 4, "daemons": 4, "cli": 5, "web": 5}
ROOT_PACKAGE_FLOOR = 0  # vodtender/__init__.py: the version, importable from anywhere
ENTRY_POINT_FLOOR = 6  # vodtender/__main__.py: above everything
STAGES = ("catalog", "live", "download", "upload", "chat", "record")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the deepest vodtender module the statement names
    path: Path
    line: int
    text: str  # the statement as written

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: `{self.text}`"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def deepest_module(dotted: str) -> str:
    """`vodtender.runtime.config.Config` -> `vodtender.runtime.config`: what an import really loads."""
    while dotted not in modules() and "." in dotted:
        dotted = dotted.rsplit(".", 1)[0]
    return dotted


def absolute(node: ast.ImportFrom, source: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".")[: len(source.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(source: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node, source, path.name == "__init__.py")
            named = [f"{base}.{alias.name}" for alias in node.names]  # a submodule, or a name in `base`
        else:
            continue
        targets = {deepest_module(dotted) for dotted in named if dotted == PACKAGE or dotted.startswith(PACKAGE + ".")}
        for target in sorted(targets):
            yield Import(source, target, path, node.lineno, ast.unparse(node))


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(found for name, path in modules().items() for found in imports_of(name, path))


def area(module: str) -> str:
    """The top-level folder of a module: runtime, clients, ..., or the root package / entry point itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def floor(module: str) -> int:
    if module == f"{PACKAGE}.__main__":
        return ENTRY_POINT_FLOOR
    return FLOORS.get(area(module), ROOT_PACKAGE_FLOOR)


def stage(module: str) -> str | None:
    """The pipeline stage folder a module is in; None for the shared pipeline modules and outside pipeline."""
    parts = module.split(".")
    return parts[2] if len(parts) >= 3 and parts[1] == "pipeline" and parts[2] in STAGES else None


def floor_problem(found: Import) -> str | None:
    source, target = found.source, found.target
    if area(source) == area(target):
        return None
    if floor(target) > floor(source):
        return (
            f"{area(source)} (floor {floor(source)}) imports {area(target)} (floor {floor(target)}): "
            "a lower floor never imports a higher one"
        )
    if floor(target) == floor(source):
        return f"{area(source)} imports {area(target)}: the two share floor {floor(source)} and stay apart"
    return None


def stage_problem(found: Import) -> str | None:
    if area(found.source) != "pipeline" or area(found.target) != "pipeline":
        return None
    target_stage = stage(found.target)
    if target_stage is None or stage(found.source) is not None:
        return None
    return f"a shared pipeline module imports the {target_stage} stage: stages build on the shared ones, not back"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def fail_on(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(problems), pytrace=False)


def test_the_package_is_found() -> None:
    assert {"vodtender.runtime.db", "vodtender.pipeline.vods", "vodtender.cli.main"} <= set(modules())
    assert any(found.target == "vodtender.runtime.db" for found in all_imports())


def test_no_floor_imports_a_higher_one_and_ops_and_daemons_stay_apart() -> None:
    problems = [f"{found.where()}\n    {problem}" for found in all_imports() if (problem := floor_problem(found))]
    fail_on(problems, "import(s) break the floors")


def test_the_shared_pipeline_modules_import_no_stage() -> None:
    problems = [f"{found.where()}\n    {problem}" for found in all_imports() if (problem := stage_problem(found))]
    fail_on(problems, "import(s) break the floors")


def test_no_modules_import_each_other() -> None:
    edges: dict[str, set[str]] = {}
    for found in all_imports():
        edges.setdefault(found.source, set()).add(found.target)
    problems = []
    for members in cycles(edges):
        inside = [found.where() for found in all_imports() if found.source in members and found.target in members]
        problems.append(" <-> ".join(members) + "\n    " + "\n    ".join(inside))
    fail_on(problems, "import cycle(s)")


def test_the_checks_catch_what_they_guard() -> None:
    def imported(source: str, target: str) -> Import:
        return Import(source, target, ROOT / "x.py", 1, f"import {target}")

    assert floor_problem(imported("vodtender.runtime.db", "vodtender.pipeline.kv"))
    assert floor_problem(imported("vodtender.clients.helix", "vodtender.daemons.poller"))
    assert floor_problem(imported("vodtender.ops.status", "vodtender.daemons.registry"))
    assert floor_problem(imported("vodtender.cli.main", "vodtender.__main__"))
    assert floor_problem(imported("vodtender.cli.main", "vodtender.runtime.db")) is None
    assert floor_problem(imported("vodtender.runtime.db", "vodtender")) is None
    assert stage_problem(imported("vodtender.pipeline.kv", "vodtender.pipeline.chat.writer"))
    assert stage_problem(imported("vodtender.pipeline", "vodtender.pipeline.download.job"))
    assert stage_problem(imported("vodtender.pipeline.kv", "vodtender.pipeline.upload"))
    assert stage_problem(imported("vodtender.pipeline.chat.writer", "vodtender.pipeline.vods")) is None
    assert stage_problem(imported("vodtender.daemons.chat", "vodtender.pipeline.chat.writer")) is None
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
