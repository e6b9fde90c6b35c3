"""Generate the small-board form of the firmware from its readable source.

The BBC micro:bit's MicroPython 1.9.2 compiles every module from source into a ~9 KB heap,
with ``MICROPY_COMP_CONST`` 0: ``X = const(1)`` is an ordinary global there, and every
module-level name, function and class costs heap for good.  The source everyone reads keeps
its named constants and its methods where they belong; this module turns it into what
1.9.2 can hold, at deploy time, so there is never a hand-written second copy:

- :func:`inline_consts`: every ``NAME = const(expr)`` of the firmware package is replaced
  by its value wherever it is used (its own module and modules that import it), and the
  definitions and imports of such names disappear;
- imports from a package module that the board does not get are resolved by copying the
  imported functions/classes in (:func:`inline_consts` with ``copy_from``): the small
  responder uses :mod:`irqkit.frame`'s CRC this way without loading that module;
- :func:`split_class`: methods of a class move into a module of their own (1.9.2 cannot
  compile ``irqkit.sched`` in one piece) and the class takes them back by name.

Pure functions over source text (``ast`` + ``tokenize``); the flat deploy
(:mod:`irqkit_host.deploy_flat`) calls :func:`flat_build`, then strips comments.
"""
from __future__ import annotations

import ast
import io
import operator
import tokenize
from pathlib import Path
from typing import Any, Iterable

from .firmware import FirmwareFile, firmware_dir

PACKAGE = "irqkit"

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.LShift: operator.lshift,
           ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitAnd: operator.and_,
           ast.BitXor: operator.xor}


class SmallBuildError(ValueError):
    """The source uses a form the generator cannot translate (the message says which)."""


def _eval(node: ast.expr, names: dict[str, int]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Invert, ast.UAdd)):
        v = _eval(node.operand, names)
        return -v if isinstance(node.op, ast.USub) else ~v if isinstance(node.op, ast.Invert) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval(node.left, names), _eval(node.right, names))
    raise SmallBuildError(f"const() of a non-integer expression: {ast.dump(node)}")


def _const_def(stmt: ast.stmt) -> tuple[str, ast.expr] | None:
    """(name, expr) when stmt is ``NAME = const(expr)``."""
    if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Name)
            and stmt.value.func.id == "const" and len(stmt.value.args) == 1):
        return stmt.targets[0].id, stmt.value.args[0]
    return None


def const_table(sources: dict[str, str]) -> dict[str, dict[str, int]]:
    """module name -> {NAME: value} for every module-level ``NAME = const(expr)`` in sources
    (module name -> source text). Expressions may use earlier consts of the module and
    consts imported from other modules of sources."""
    trees = {m: ast.parse(s) for m, s in sources.items()}
    table: dict[str, dict[str, int]] = {m: {} for m in sources}
    for _ in range(len(sources) + 1):  # imports between modules: iterate to a fixed point
        changed = False
        for mod, tree in trees.items():
            known = dict(table[mod])
            for stmt in tree.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module in table:
                    for a in stmt.names:
                        if a.name in table[stmt.module]:
                            known[a.asname or a.name] = table[stmt.module][a.name]
                d = _const_def(stmt)
                if d is None:
                    continue
                try:
                    v = _eval(d[1], known)
                except SmallBuildError:
                    continue  # uses a const not resolved yet: next round
                known[d[0]] = v
                if table[mod].get(d[0]) != v:
                    table[mod][d[0]] = v
                    changed = True
        if not changed:
            return table
    raise SmallBuildError("const() definitions that never resolve (a cycle?)")


def _top_level_defs(src: str) -> dict[str, str]:
    """name -> source text of each module-level def/class."""
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    return {s.name: "".join(lines[s.lineno - 1:s.end_lineno]) for s in tree.body
            if isinstance(s, (ast.FunctionDef, ast.ClassDef))}


def _import_text(module: str, names: list[tuple[str, str | None]]) -> str:
    return "from %s import %s\n" % (module, ", ".join(n if a is None else f"{n} as {a}" for n, a in names))


def inline_consts(src: str, module: str, table: dict[str, dict[str, int]],
                  copy_from: dict[str, str] | None = None) -> str:
    """src with every const of ``table`` it defines or imports replaced by its value.

    copy_from: module name -> source of package modules the board does *not* get; a name
    imported from one of them that is a function or class there is copied in instead
    (its own consts inlined too). Any other name imported from such a module is an error.
    """
    copy_from = copy_from or {}
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    names = dict(table.get(module, {}))
    edits: dict[int, tuple[int, str]] = {}  # first line (0-based) -> (last line, replacement)
    copied: list[str] = []
    for stmt in tree.body:
        if _const_def(stmt) is not None and _const_def(stmt)[0] in names:  # type: ignore[index]
            edits[stmt.lineno - 1] = (stmt.end_lineno - 1, "")  # type: ignore[operator]
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and (
                stmt.module == "micropython" or stmt.module.split(".")[0] == PACKAGE):
            keep: list[tuple[str, str | None]] = []
            other = copy_from.get(stmt.module)
            defs = _top_level_defs(other) if other is not None else {}
            for a in stmt.names:
                local = a.asname or a.name
                if a.name == "const" and stmt.module in ("micropython", PACKAGE + ".compat"):
                    continue
                if a.name in table.get(stmt.module, {}):
                    names[local] = table[stmt.module][a.name]
                elif other is not None:
                    if a.name not in defs or a.asname:
                        raise SmallBuildError(f"{module}: {a.name!r} from {stmt.module} (not on this board) "
                                              "is neither a const nor a function/class to copy")
                    copied.append(inline_consts(defs[a.name], stmt.module, table))
                else:
                    keep.append((a.name, a.asname))
            text = _import_text(stmt.module, keep) if keep else ""
            if copied and not keep:
                text = "".join(copied)
                copied = []
            elif copied:
                text += "".join(copied)
                copied = []
            edits[stmt.lineno - 1] = (stmt.end_lineno - 1, text)  # type: ignore[operator]
    # Replace the names token by token (not after a '.': an attribute of the same name
    # stays). `x + ZERO]` loses the `+ 0` (slot offsets): a few bytes of bytecode each.
    subs: dict[int, list[tuple[int, int, str]]] = {}
    toks = [t for t in tokenize.generate_tokens(io.StringIO(src).readline)
            if t.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)]
    for k, tok in enumerate(toks):
        if tok.type != tokenize.NAME or tok.string not in names or (k and toks[k - 1].string == "."):
            continue
        v = names[tok.string]
        start = tok.start[1]
        text = str(v) if v >= 0 else f"({v})"
        if (v == 0 and k >= 2 and toks[k - 1].string == "+" and toks[k - 1].start[0] == tok.start[0]
                and toks[k + 1].string == "]" and toks[k - 2].type == tokenize.NAME):
            start, text = toks[k - 1].start[1], ""
        subs.setdefault(tok.start[0] - 1, []).append((start, tok.end[1], text))
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i in edits:
            last, text = edits[i]
            out.append(text)
            i = last + 1
            continue
        line = lines[i]
        for a, b, text in sorted(subs.get(i, []), reverse=True):
            line = line[:a] + text + line[b:]
        out.append(line)
        i += 1
    return "".join(out)


def split_class(src: str, cls: str, methods: Iterable[str], into: str) -> tuple[str, str]:
    """Move methods of class cls into a new module ``into`` (a dotted name) as functions of
    ``self``; the class takes them back as ``name = name`` from an import. Returns
    (new source of this module, source of the new module). The moved functions may use
    only names this module imports (copied into the new module) and builtins."""
    methods = list(methods)
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    klass = next((s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == cls), None)
    if klass is None:
        raise SmallBuildError(f"no class {cls!r} to split")
    found = {s.name: s for s in klass.body if isinstance(s, ast.FunctionDef) and s.name in methods}
    missing = [m for m in methods if m not in found]
    if missing:
        raise SmallBuildError(f"class {cls} has no method(s) {', '.join(missing)}")
    imported: dict[str, tuple[str, str]] = {}  # local name -> (module, original name)
    module_names: set[str] = set()
    last_import = 0
    for s in tree.body:
        if isinstance(s, ast.ImportFrom) and s.module:
            for a in s.names:
                imported[a.asname or a.name] = (s.module, a.name)
            last_import = s.end_lineno  # type: ignore[assignment]
        elif isinstance(s, ast.Import):
            for a in s.names:
                imported[a.asname or a.name] = ("", a.name)
            last_import = s.end_lineno  # type: ignore[assignment]
        elif isinstance(s, (ast.FunctionDef, ast.ClassDef)):
            module_names.add(s.name)
        elif isinstance(s, ast.Assign):
            module_names.update(t.id for t in s.targets if isinstance(t, ast.Name))
    bodies: list[str] = []
    used: set[str] = set()
    for m in methods:
        f = found[m]
        text = lines[f.lineno - 1:f.end_lineno]
        indent = len(text[0]) - len(text[0].lstrip())
        bodies.append("".join(x[indent:] if x.strip() else x for x in text))
        used.update(n.id for n in ast.walk(f) if isinstance(n, ast.Name))
    bad = sorted((used & module_names) - set(imported))
    if bad:
        raise SmallBuildError(f"{cls}.{'/'.join(methods)} use module-level name(s) {', '.join(bad)} "
                              f"of their module: {into} cannot import them back")
    head = ""
    by_module: dict[str, list[str]] = {}
    for name in sorted(used & set(imported)):
        mod, orig = imported[name]
        if mod:
            by_module.setdefault(mod, []).append(orig if orig == name else f"{orig} as {name}")
        else:
            head += f"import {orig}\n"
    for mod, ns in by_module.items():
        head += "from %s import %s\n" % (mod, ", ".join(ns))
    helper = head + "\n\n" + "\n\n".join(bodies)
    # This module: each method replaced by `name = name`, the import after the last import.
    out = list(lines)
    for m in sorted(methods, key=lambda m: found[m].lineno, reverse=True):
        f = found[m]
        indent = " " * f.col_offset
        out[f.lineno - 1:f.end_lineno] = [f"{indent}{m} = {m}\n"]
    out.insert(last_import, "from %s import %s\n" % (into, ", ".join(methods)))
    return "".join(out), helper


def package_sources(root: Path | None = None) -> dict[str, str]:
    """module name -> source for every module of the firmware package."""
    root = root or firmware_dir()
    out = {}
    for p in sorted(root.rglob("*.py")):
        if p.parent.name == "manifests":   # the layers' manifests, not modules
            continue
        rel = p.relative_to(root).with_suffix("")
        parts = [PACKAGE] + [x for x in rel.parts if x != "__init__"]
        out[".".join(parts)] = p.read_text(encoding="utf-8")
    return out


def module_of(device_path: str) -> str:
    """``irqkit/ring.py`` -> ``irqkit.ring``; ``irqkit/__init__.py`` -> ``irqkit``."""
    parts = device_path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def flat_build(board: dict[str, Any], files: list[FirmwareFile],
               sources: dict[str, str] | None = None) -> tuple[list[FirmwareFile], dict[str, str]]:
    """The board's files after generation: (files in import order, device path -> source).

    The board file's ``firmware.split`` lists classes whose methods go into a module of
    their own: ``{"sched.py": {"class": "Scheduler", "methods": ["step", "run"],
    "into": "dispatch.py", "after": "source.py"}}``; the new module is placed right after
    ``after`` (the import order), or just before the module it came from. ``firmware.merge``
    (``{"critical.py": "dispatch.py"}``) then appends modules to others (:func:`merge_module`).
    """
    sources = sources if sources is not None else package_sources()
    table = const_table(sources)
    on_board = {module_of(f.device) for f in files}
    split = board.get("firmware", {}).get("split", {})
    for rule in split.values():
        on_board.add(module_of("irqkit/" + rule["into"]))
    absent = {m: s for m, s in sources.items() if m not in on_board}
    out_files: list[FirmwareFile] = list(files)
    payload: dict[str, str] = {}
    for f in files:
        mod = module_of(f.device)
        text = inline_consts(sources.get(mod, f.local.read_text(encoding="utf-8")), mod, table, absent)
        rel = f.device[len("irqkit/"):]
        if rel in split:
            rule = split[rel]
            dev = "irqkit/" + rule["into"]
            text, helper = split_class(text, rule["class"], rule["methods"], module_of(dev))
            # imported in this order: the new module goes before the one it came from, or
            # right after rule["after"] (compile the big pieces while big free blocks exist)
            at = next((k + 1 for k, g in enumerate(out_files) if g.device == "irqkit/" + rule.get("after", "")),
                      None)
            if at is None:
                at = out_files.index(f)
            out_files.insert(at, FirmwareFile(f.local, dev))
            payload[dev] = helper
        payload[f.device] = text
    for rel, into in board.get("firmware", {}).get("merge", {}).items():
        out_files, payload = merge_module(out_files, payload, "irqkit/" + rel, "irqkit/" + into)
    return out_files, payload


def merge_module(files: list[FirmwareFile], payload: dict[str, str], src: str,
                 into: str) -> tuple[list[FirmwareFile], dict[str, str]]:
    """Append generated module src (a device path) to into and drop it: one module less
    on the heap. Imports of src in the other modules then name into; into's own import of
    src goes (its names are defined in the same module now)."""
    if src not in payload or into not in payload:
        raise SmallBuildError(f"merge {src} into {into}: both must be in the build")
    old, new = module_of(src), module_of(into)
    out: dict[str, str] = {}
    for dev, text in payload.items():
        if dev == src:
            continue
        tree = ast.parse(text)
        lines = text.splitlines(keepends=True)
        for stmt in reversed(tree.body):
            if isinstance(stmt, ast.ImportFrom) and stmt.module == old:
                names = [(a.name, a.asname) for a in stmt.names]
                repl = "" if dev == into else _import_text(new, names)
                lines[stmt.lineno - 1:stmt.end_lineno] = [repl]
        out[dev] = "".join(lines)
    out[into] = out[into].rstrip("\n") + "\n\n\n" + payload[src]
    # the merged module's imports of into itself (e.g. back-references) are not allowed
    if any(isinstance(s, ast.ImportFrom) and s.module == new for s in ast.parse(out[into]).body):
        raise SmallBuildError(f"{src} imports {into}: cannot merge them")
    return [f for f in files if f.device != src], out


def build_files(rels: Iterable[str], board: dict[str, Any] | None = None) -> dict[str, str]:
    """Generated sources for an ad-hoc list of package files (paths relative to the irqkit
    package, e.g. ``["clock.py", "source.py"]``): device path -> source, in order. For tests
    and tools that put part of the core on a small board."""
    root = firmware_dir()
    files = [FirmwareFile(root / r, "irqkit/" + r) for r in rels]
    out_files, payload = flat_build(board or {"firmware": {}}, files)
    return {f.device: payload[f.device] for f in out_files}
