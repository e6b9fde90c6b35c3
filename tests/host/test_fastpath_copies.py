"""irqkit.fastpath holds native copies of Source.capture and Scheduler.step: they must
stay verbatim copies of the plain methods (one source of truth: a change to one that is
not made to the other fails here), and its inlined constants must have the same values."""
from __future__ import annotations

import ast
from pathlib import Path

import irqkit.compat as compat
import irqkit.source as source

FW = Path(__file__).resolve().parents[2] / "firmware" / "irqkit"


def _method(path: Path, cls: str | None, name: str) -> ast.FunctionDef:
    tree = ast.parse(path.read_text())
    body = tree.body
    if cls is not None:
        body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == name)


def _code(f: ast.FunctionDef) -> str:
    body = f.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]        # the docstring (indented differently in a method)
    return ast.dump(ast.Module(body=body, type_ignores=[])) + ast.dump(f.args)


def test_native_copies_are_verbatim() -> None:
    fp = FW / "fastpath.py"
    for path, cls, name in ((FW / "source.py", "Source", "capture"),
                            (FW / "sched.py", "Scheduler", "step")):
        plain = _method(path, cls, name)
        native = _method(fp, None, name)
        assert [ast.unparse(d) for d in native.decorator_list] == ["micropython.native"]
        assert _code(native) == _code(plain), f"fastpath.{name} differs from {cls}.{name}"


def test_inlined_constants_match() -> None:
    tree = ast.parse((FW / "fastpath.py").read_text())
    seen = 0
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "const"):
            name = node.targets[0].id  # type: ignore[attr-defined]
            value = ast.literal_eval(node.value.args[0])
            want = getattr(compat, name) if hasattr(compat, name) and name.startswith("COUNTER") \
                else getattr(source, name)
            assert value == want, name
            seen += 1
    assert seen >= 15
