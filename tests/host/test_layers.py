"""The shape of the code: no import cycles (host and firmware), host layers import only
the layers below them, no imports hidden in functions on the host (but optional
dependencies and the few listed, deferred ones), no long host modules
without a reason, one version string.

Imports are read with ``ast`` (module level and inside functions), never by importing.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import irqkit
import irqkit_host

ROOT = Path(__file__).resolve().parents[2]
HOST = ROOT / "host"
FIRMWARE = ROOT / "firmware"


#: Host layers, lowest first. A module may import its own layer and lower ranks only;
#: layers of equal rank (targets, deploy) do not import each other.
LAYER_RANK: dict[str, int] = {
    "errors": 0,
    "boards": 1,
    "link": 2,
    "targets": 3,
    "deploy": 3,
    "triggers": 4,
    "measure": 5,
    "cli": 6,
}
#: Top-level host modules that are not a layer folder, and the layer they belong to.
MODULE_LAYER: dict[str, str] = {
    "irqkit_host": "errors",          # __init__: only the version
    "irqkit_host.errors": "errors",
    "irqkit_host.boards": "boards",
    "irqkit_host.appstart": "boards",    # a board file's app start code (no deploy needed)
    "irqkit_host.simlaunch": "targets",  # compat re-export of targets.sim / targets.bench
    "irqkit_host.__main__": "cli",
    "irqkit_host.pytest_plugin": "cli",  # the pytest plugin: an edge like the CLI
}
#: Modules a host function may import lazily: optional dependencies only.
OPTIONAL_IMPORTS = frozenset({"matplotlib", "matplotlib.pyplot", "numpy", "labgrid.remote.client",
                              # the labgrid layer of the host (imports labgrid itself)
                              "measure.labgrid_driver"})   # relative, from irqkit_host
#: Host layers a function imports on purpose, (module, import as written) -> why: a command's
#: start would otherwise load a layer only some of its runs use.
DEFERRED_IMPORTS: dict[tuple[str, str], str] = {
    ("irqkit_host.measure.run", "deploy"):
        "`irqkit measure` deploys only to a target without irqkit frozen in its ROM, not the simulator",
}
MAX_LINES = 400
LONG_REASON = re.compile(r"^# why this is long:", re.MULTILINE)


def module_files(base: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under base/package."""
    out: dict[str, Path] = {}
    for path in sorted((base / package).rglob("*.py")):
        if path.parent.name == "manifests":   # firmware layers' manifests: data, not modules
            continue
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(name: str, files: dict[str, Path]) -> bool:
    path = files.get(name)
    return path is not None and path.name == "__init__.py"


def imports_of(name: str, source: str, known: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported known module, inside a function?) for every import in ``source``."""
    tree = ast.parse(source)
    package = name if _is_package(name, known) else name.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def resolve(mod: str) -> str | None:
        while mod and mod not in known:  # `import a.b.c` of a non-module: its package
            mod = mod.rpartition(".")[0]
        return mod or None

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    target = resolve(alias.name)
                    if target:
                        found.append((target, in_function))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base_parts = package.split(".")
                    base_parts = base_parts[:len(base_parts) - (child.level - 1)]
                    mod = ".".join(base_parts + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                for alias in child.names:  # `from pkg import submodule` imports the submodule
                    sub = f"{mod}.{alias.name}"
                    target = sub if sub in known else resolve(mod)
                    if target:
                        found.append((target, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def import_graph() -> tuple[dict[str, Path], dict[str, set[str]], dict[str, list[tuple[str, bool]]]]:
    files: dict[str, Path] = {}
    files.update(module_files(HOST, "irqkit_host"))
    for pkg in sorted(p.name for p in FIRMWARE.iterdir() if (p / "__init__.py").is_file()):
        files.update(module_files(FIRMWARE, pkg))
    raw = {name: imports_of(name, path.read_text(encoding="utf-8"), files) for name, path in files.items()}
    graph = {name: {t for t, _ in edges if t != name} for name, edges in raw.items()}
    return files, graph, raw


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def layer_of(name: str) -> str | None:
    if not name.startswith("irqkit_host"):
        return None
    if name in MODULE_LAYER:
        return MODULE_LAYER[name]
    return name.split(".")[1]


# ---- the checks themselves must be able to fail -------------------------------------------

def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_reader_sees_function_and_relative_imports() -> None:
    known = {n: Path(f"/x/{n}.py") for n in ("p", "p.a", "p.b", "p.c")}
    known["p"] = Path("/x/p/__init__.py")
    src = "from . import a\nfrom .b import thing\ndef f():\n    import p.c\n"
    assert imports_of("p.d", src, known) == [("p.a", False), ("p.b", False), ("p.c", True)]


# ---- the code base ----------------------------------------------------------------------

def test_no_import_cycles_in_host_or_firmware() -> None:
    files, graph, _ = import_graph()
    assert any(n.startswith("irqkit_host.") for n in files) and "irqkit.sched" in files
    found = cycles(graph)
    assert found == [], f"import cycles: {found}"


def test_host_layers_import_only_layers_below() -> None:
    files, _, raw = import_graph()
    wrong = []
    for name, edges in raw.items():
        mine = layer_of(name)
        if mine is None:
            if any(t.startswith("irqkit_host") for t, _ in edges):
                wrong.append(f"{name} (firmware) imports the host")
            continue
        assert mine in LAYER_RANK, f"{name}: layer {mine!r} is not in LAYER_RANK"
        for target, _ in edges:
            theirs = layer_of(target)
            if theirs is None or theirs == mine:
                continue
            if LAYER_RANK[theirs] >= LAYER_RANK[mine]:
                wrong.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert wrong == []


def test_host_imports_in_functions_are_optional_dependencies_only() -> None:
    files, _, _ = import_graph()
    wrong = []
    for name, path in files.items():
        if not name.startswith("irqkit_host"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or "."] if isinstance(node, ast.ImportFrom) else [])
                wrong += [f"{name}.{fn.name}: import {m}" for m in mods
                          if m not in OPTIONAL_IMPORTS and (name, m) not in DEFERRED_IMPORTS]
    assert wrong == []


def test_host_modules_are_short_or_say_why() -> None:
    long = []
    for name, path in module_files(HOST, "irqkit_host").items():
        text = path.read_text(encoding="utf-8")
        head = "\n".join(text.splitlines()[:20])
        if text.count("\n") > MAX_LINES and not LONG_REASON.search(head):
            long.append(f"{name}: {text.count(chr(10))} lines")
    assert long == []


def test_each_host_folder_says_what_it_is() -> None:
    for init in sorted((HOST / "irqkit_host").rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 5, f"{init}: no docstring saying what the folder is"


def test_one_version() -> None:
    package_json = json.loads((FIRMWARE / "package.json").read_text())
    assert package_json["version"] == irqkit.VERSION
    assert irqkit_host.__version__ == irqkit.VERSION
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "irqkit.VERSION"}


@pytest.mark.parametrize("name", ["sim", "microbit-v1"])
def test_startable_boards_name_a_registered_target(name: str) -> None:
    from irqkit_host.boards import load_board
    from irqkit_host.targets import TARGETS, can_start

    board = load_board(name)
    assert board["target"] in TARGETS and can_start(board)
