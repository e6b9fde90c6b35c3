"""The micro:bit build generator: consts inlined, classes split, modules merged, functions
copied from modules the board does not get -- and the result still means the same."""
from __future__ import annotations

import ast

import pytest

from irqkit_host.deploy import smallbuild as sb
from irqkit_host.boards import load_board
from irqkit_host.deploy.firmware import files_for
from irqkit_host.deploy.minify import strip_source

A = "from irqkit.compat import const\nX = const(3)\nY = const(X * 2 + 1)\nNEG = const(-4)\n\ndef f(v):\n    return v.X + X + Y - NEG\n"
B = "from irqkit.a import X, Y as Z, f\n\ndef g(buf, h):\n    return buf[h + ZERO] + Z\nZERO = const(0)\n"


def test_const_table_resolves_expressions_and_imports() -> None:
    t = sb.const_table({"irqkit.a": A, "irqkit.b": B})
    assert t["irqkit.a"] == {"X": 3, "Y": 7, "NEG": -4}
    assert t["irqkit.b"] == {"ZERO": 0}


def test_inline_consts_replaces_names_not_attributes_and_drops_definitions() -> None:
    t = sb.const_table({"irqkit.a": A})
    out = sb.inline_consts(A, "irqkit.a", t)
    assert "const" not in out and "X =" not in out
    assert "return v.X + 3 + 7 - (-4)" in out   # the attribute v.X stays
    ns: dict = {}
    exec(out, ns)

    class V:
        X = 100
    assert ns["f"](V()) == 100 + 3 + 7 + 4


def test_imports_of_consts_vanish_other_names_stay_and_plus_zero_folds() -> None:
    t = sb.const_table({"irqkit.a": A, "irqkit.b": B})
    out = sb.inline_consts(B, "irqkit.b", t)
    assert "from irqkit.a import f\n" in out
    assert "return buf[h ] + 7" in out   # strip_source tidies the space


def test_copy_from_an_absent_module_copies_the_function() -> None:
    t = sb.const_table({"irqkit.a": A, "irqkit.b": B})
    out = sb.inline_consts(B, "irqkit.b", t, copy_from={"irqkit.a": A})
    assert "import" not in out and "def f(v):" in out
    ns: dict = {}
    exec(out, ns)
    assert ns["g"]([5], 0) == 12


def test_copy_from_refuses_a_plain_global() -> None:
    src = "from irqkit.a import TABLE\n"
    with pytest.raises(sb.SmallBuildError, match="TABLE"):
        sb.inline_consts(src, "irqkit.c", {}, copy_from={"irqkit.a": "TABLE = [1]\n"})


C = ("from irqkit.clock import ticks_us\nimport gc\n\nclass S:\n    n = 0\n\n    def a(self):\n"
     "        return ticks_us() + self.b()\n\n    def b(self):\n        return 1\n\n"
     "    def c(self):\n        gc.collect()\n        return self.a()\n")


def test_split_class_moves_methods_and_keeps_behaviour() -> None:
    mod, helper = sb.split_class(C, "S", ["a", "c"], "irqkit.h")
    assert "from irqkit.h import a, c\n" in mod and "    a = a\n" in mod and "    c = c\n" in mod
    assert "def b(self)" in mod and "def a(self)" not in mod
    assert helper.startswith("import gc\nfrom irqkit.clock import ticks_us\n")
    h = ast.parse(helper)
    assert [n.name for n in h.body if isinstance(n, ast.FunctionDef)] == ["a", "c"]


def test_split_class_refuses_a_module_global() -> None:
    src = "K = [1]\n\nclass S:\n    def a(self):\n        return K\n"
    with pytest.raises(sb.SmallBuildError, match="K"):
        sb.split_class(src, "S", ["a"], "irqkit.h")


def test_merge_module_rewrites_imports() -> None:
    from pathlib import Path
    from irqkit_host.deploy.firmware import FirmwareFile

    files = [FirmwareFile(Path("x"), d) for d in ("irqkit/p.py", "irqkit/q.py", "irqkit/r.py")]
    payload = {"irqkit/p.py": "def P():\n    pass\n", "irqkit/q.py": "from irqkit.p import P\n\ndef Q():\n    P()\n",
               "irqkit/r.py": "from irqkit.p import P\n"}
    out_files, out = sb.merge_module(files, payload, "irqkit/p.py", "irqkit/q.py")
    assert [f.device for f in out_files] == ["irqkit/q.py", "irqkit/r.py"]
    assert "import" not in out["irqkit/q.py"] and "def P()" in out["irqkit/q.py"]
    assert out["irqkit/r.py"] == "from irqkit.q import P\n"


def test_microbit_build_from_the_real_source() -> None:
    board = load_board("microbit-v1")
    files, payload = sb.flat_build(board, sb_files := files_for(board))
    assert sb_files  # the board's list
    names = [f.device for f in files]
    # step/run split out right after source; critical merged into dispatch
    assert names[:5] == ["irqkit/__init__.py", "irqkit/clock.py", "irqkit/source.py", "irqkit/dispatch.py",
                         "irqkit/sched.py"]
    assert "irqkit/critical.py" not in names
    for dev, text in payload.items():
        stripped = strip_source(text)
        ast.parse(stripped)
        assert "const(" not in stripped, dev              # 1.9.2 keeps every const() as a global
        assert "irqkit.compat import" not in stripped, dev  # nor loads compat
        assert "irqkit.proto" not in stripped and "irqkit.frame" not in stripped, dev
    assert "class Critical" in payload["irqkit/dispatch.py"] and "def step(self)" in payload["irqkit/dispatch.py"]
    assert "step = step" in payload["irqkit/sched.py"]
    for fn in ("crc16", "pack_frame", "unpack_frame"):   # frame.py's one codec, copied
        assert f"def {fn}(" in payload["irqkit/mblink.py"]
    assert "MAX_BODY" not in strip_source(payload["irqkit/mblink.py"])   # its const inlined
    # message numbers come from proto.py
    from irqkit import proto
    assert f"if t == {proto.PING}:" in payload["irqkit/mbapp.py"]


def test_generated_source_runs_the_same() -> None:
    # The generated core, executed on CPython as modules of their own, still schedules.
    import sys
    import types

    from irqkit.ring import NoIrq

    built = sb.build_files(["clock.py", "source.py", "critical.py", "sched.py"],
                           {"firmware": {"split": {"sched.py": {"class": "Scheduler", "methods": ["step", "run"],
                                                                "into": "dispatch.py", "after": "source.py"}}}})
    saved = {m: sys.modules.get(m) for m in ("irqkit.source", "irqkit.critical", "irqkit.dispatch", "irqkit.sched")}
    try:
        for dev, text in built.items():
            name = sb.module_of(dev)
            if name == "irqkit.clock":
                continue
            mod = types.ModuleType(name)
            sys.modules[name] = mod
            exec(compile(text, dev, "exec"), mod.__dict__)
        class P(NoIrq):
            def wake(self):
                pass

        sched = sys.modules["irqkit.sched"].Scheduler(P())
        got = []
        src = sched.add(sys.modules["irqkit.source"].Source("s", lambda ev: got.append(ev.a)))
        src.trigger(5)
        src.trigger(6)
        assert sched.run_once() == 2 and got == [5, 6]
    finally:
        for m, v in saved.items():
            if v is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = v
