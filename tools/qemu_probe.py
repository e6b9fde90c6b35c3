#!/usr/bin/env python3
"""Probe the QEMU micro:bit (MicroPython 1.9.2, Cortex-M0): what the runtime has, how big a
module it can compile, and what the irqkit core costs there.

    python tools/qemu_probe.py features          # which modules/functions/syntax exist
    python tools/qemu_probe.py limits            # largest representative module that compiles
    python tools/qemu_probe.py core [--minify] [--each] [MODULE ...]
        # upload the micro:bit's generated build (what `irqkit deploy` writes there; other
        # package modules named are generated the same way) and import each after a soft
        # reset; prints the heap each keeps, or the error.
        # --each: every module alone on a fresh filesystem (the whole core does not fit).

Needs: apt-get install qemu-system-arm firmware-microbit-micropython
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host"))

sys.path.insert(0, str(ROOT / "firmware"))

from irqkit_host.boards import load_board  # noqa: E402
from irqkit_host.deploy.firmware import files_for, firmware_dir  # noqa: E402
from irqkit_host.deploy.minify import microbit_fs_name, strip_source  # noqa: E402
from irqkit_host.deploy.smallbuild import build_files, module_of  # noqa: E402
from irqkit_host.targets.qemu import start_microbit  # noqa: E402

FEATURES: list[tuple[str, str]] = [
    ("mem_free at boot", "import gc; print(gc.mem_free())"),
    ("mem_free after collect", "import gc; gc.collect(); print(gc.mem_free())"),
    ("sys.implementation", "import sys; print(sys.implementation)"),
    ("sys.implementation._mpy", "import sys; print(sys.implementation._mpy)"),
    ("dir(sys)", "import sys; print(dir(sys))"),
    ("dir(machine)", "import machine; print(dir(machine))"),
    ("disable_irq/enable_irq", "import machine; s=machine.disable_irq(); machine.enable_irq(s); print(s)"),
    ("dir(utime)", "import utime; print(dir(utime))"),
    ("ticks_us step (min,median,max of 100)",
     "import utime\nv=[utime.ticks_us() for i in range(101)]\nd=sorted(v[i+1]-v[i] for i in range(100))\n"
     "print(d[0], d[50], d[-1], all(x>=0 for x in d))"),
    ("sleep_ms(100) in ticks_us", "import utime\nt=utime.ticks_us()\nutime.sleep_ms(100)\nprint(utime.ticks_diff(utime.ticks_us(), t))"),
    ("ticks_add/diff wrap (2**30)", "import utime; print(utime.ticks_add(0x3FFFFFFF, 2), utime.ticks_diff(1, 0x3FFFFFFF))"),
    ("ticks_diff on a big-int 5 (bug)", "import utime; print(utime.ticks_diff((0x3FFFFFFF + 6) & 0x3FFFFFFF, 0))"),
    ("x+1 at 2**30-1 allocates?",
     "import micropython\ndef f(x):\n  micropython.heap_lock()\n  try:\n    y = x + 1\n    r = 'no'\n"
     "  except MemoryError:\n    r = 'yes'\n  micropython.heap_unlock()\n  return r\nprint(f(0x3FFFFFFF), f(5))"),
    ("dir(micropython)", "import micropython; print(dir(micropython))"),
    ("micropython.schedule", "import micropython; print(micropython.schedule)"),
    ("alloc_emergency_exception_buf", "import micropython; print(micropython.alloc_emergency_exception_buf)"),
    ("_thread", "import _thread"),
    ("dir(os)", "import os; print(dir(os))"),
    ("array typecodes",
     "import array\nr=[]\nfor t in 'bBhHiIlLfdqQ':\n  try:\n    array.array(t,[1]); r.append(t)\n  except Exception:\n    pass\nprint(''.join(r))"),
    ("ustruct / struct", "import ustruct, struct; print(dir(ustruct), struct.pack('<HI', 1, 2))"),
    ("memoryview", "print(memoryview(bytearray(4)))"),
    ("bytearray slice", "b=bytearray(b'abcdef'); print(b[1:3])"),
    ("bytes.decode / str.encode", "print(b'ab'.decode(), 'ab'.encode())"),
    ("str(bytes, enc) / bytes(str, enc)", "print(str(b'ab', 'utf-8'), bytes('ab', 'utf-8'))"),
    ("property", "print(property)"),
    ("type(x).__name__", "print(type(1).__name__)"),
    ("with + __enter__/__exit__",
     "class C:\n  def __enter__(self): return 1\n  def __exit__(self, *a): print('exit')\nwith C() as c: print(c)"),
    ("generators", "def g(n):\n  for i in range(n): yield i\nprint(list(g(3)))"),
    ("% formatting / str.format", "print('%d %s %5.2f %x' % (1, 'a', 1.5, 255), '{} {:>3}'.format(1, 2))"),
    ("comprehensions", "print({k: k for k in range(2)}, [x for x in range(3)], {x for x in range(2)})"),
    ("getattr default", "print(getattr(object(), 'nope', 'dflt'))"),
    ("except E as e", "try:\n  raise ValueError('v')\nexcept ValueError as e:\n  print(e.args)"),
    ("bound method kept, called with heap locked",
     "import micropython\nclass K:\n  def __init__(self):\n    self.n=0\n    self.cb=self.m\n  def m(self, x):\n    self.n+=x\n"
     "k=K()\ndef f(cb):\n  micropython.heap_lock()\n  try:\n    cb(1)\n  finally:\n    micropython.heap_unlock()\nf(k.cb); print(k.n)"),
    ("float math with heap locked", "import micropython\ndef f():\n  micropython.heap_lock()\n  x = 1.5 * 2\n  micropython.heap_unlock()\n  return x\nprint(f())"),
    ("recursion depth (levels)",
     "def d(n):\n  return 0 if n == 0 else 1 + d(n - 1)\nk=0\nfor n in range(1, 30):\n  try:\n    d(n); k=n\n  except RuntimeError:\n    break\nprint(k)"),
    ("package dir import (pkg/__init__.py)",
     "f=open('pk/__init__.py','w'); f.write('X=1\\n'); f.close()\ntry:\n  import pk; print(pk.X)\nfinally:\n"
     "  import os; os.remove('pk/__init__.py')"),
    ("module.py/sub.py import",
     "f=open('mq.py','w'); f.write('X=1\\n'); f.close()\nf=open('mq.py/s.py','w'); f.write('from mq import X\\nY=X+1\\n'); f.close()\n"
     "try:\n  from mq.s import Y; print(Y)\nfinally:\n  import os; os.remove('mq.py'); os.remove('mq.py/s.py')"),
    (".mpy import", "f=open('zz.mpy','wb'); f.write(b'M\\x02\\x00\\x1f'); f.close()\ntry:\n  import zz\nfinally:\n  import os; os.remove('zz.mpy')"),
    ("open() modes", "r=[]\nfor m in ('w','wb','r','rb','a'):\n  try:\n    open('m.txt', m).close(); r.append(m)\n  except Exception as e:\n    r.append(m+':'+repr(e))\nimport os; os.remove('m.txt'); print(r)"),
    ("filesystem capacity (bytes in one file)",
     "import os\nn=0\nf=open('big.bin','wb')\ntry:\n  while True:\n    f.write(b'\\x00'*128); n+=128\nexcept OSError as e:\n  pass\n"
     "f.close()\ntry:\n  os.remove('big.bin')\nexcept OSError:\n  pass\nprint(n)"),
]


def _exec(tr: Any, code: str) -> str:
    from mpremote.transport import TransportExecError

    try:
        return tr.exec(code).decode(errors="replace").strip()
    except TransportExecError as exc:
        lines = exc.error_output.strip().splitlines()
        return "ERROR " + (lines[-1] if lines else "?")


def _fresh(tr: Any) -> None:
    """Soft reset (Ctrl-D at the friendly REPL) so the next command starts with a clean heap."""
    tr.exit_raw_repl()
    tr.enter_raw_repl(soft_reset=True)


def cmd_features(tr: Any, args: argparse.Namespace) -> int:
    for name, code in FEATURES:
        _fresh(tr)
        print(f"{name:42s} {_exec(tr, code)}")
    return 0


def _representative(nfuncs: int) -> str:
    out = ['"""A representative module: consts, a class, small methods."""',
           "from micropython import const", "import array", "", "_A = const(1)", "", "",
           "class Thing:", "    def __init__(self, n):", "        self.buf = array.array('i', [0] * n)",
           "        self.head = 0", "        self.count = 0", ""]
    for i in range(nfuncs):
        out += [f"    # Method {i}: a little arithmetic on the buffer.",
                f"    def method_{i}(self, value, extra=0):",
                f"        if value > {i}:",
                "            self.buf[self.head] = value + extra",
                "            self.head = (self.head + 1) % len(self.buf)",
                "        else:",
                f"            self.count += {i + 1}",
                "        return self.count", ""]
    return "\n".join(out) + "\n"


def cmd_limits(tr: Any, args: argparse.Namespace) -> int:
    for n in range(4, 64, 2):
        src = _representative(n)
        _fresh(tr)
        _exec(tr, "import os\nfor x in os.listdir(): os.remove(x)")
        tr.fs_writefile("rep.py", src.encode())
        _fresh(tr)
        out = _exec(tr, "import gc\ngc.collect()\na=gc.mem_free()\nimport rep\ngc.collect()\nprint(a - gc.mem_free())")
        print(f"{n:3d} methods {src.count(chr(10)):4d} lines {len(src):6d} bytes -> "
              + (out if out.startswith("ERROR") else f"compiles, keeps {out} B of heap"))
        if out.startswith("ERROR"):
            break
    return 0


def generated_core(extra: list[str]) -> dict[str, str]:
    """module -> source of what `irqkit deploy --board microbit-v1` writes (the generated
    small-board build of the board's layers), plus the package modules in ``extra``."""
    board = load_board("microbit-v1")
    rels = [f.device[len("irqkit/"):] for f in files_for(board)]
    for mod in extra:
        rel = "/".join(mod.split(".")[1:]) + ".py"
        if mod.startswith("irqkit.") and rel not in rels and (firmware_dir() / rel).is_file():
            rels.append(rel)
    return {module_of(dev): text for dev, text in build_files(rels, board).items()}


def _deps(core: dict[str, str], module: str, seen: list[str] | None = None) -> list[str]:
    """module and the irqkit modules it imports at top level, dependencies first."""
    import ast

    seen = [] if seen is None else seen
    if module in seen or module not in core:
        return seen
    for node in ast.parse(core[module]).body:
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith("irqkit.") or name == "irqkit":
                _deps(core, name, seen)
    seen.append(module)
    return seen


def _upload(tr: Any, core: dict[str, str], modules: list[str], strip: bool) -> int | str:
    """Clear the filesystem, upload modules (+ the package's __init__); bytes written, or the error."""
    wanted = (["irqkit"] if "irqkit" in core else []) + [m for m in modules if m != "irqkit"]
    _exec(tr, "import os\nfor x in os.listdir(): os.remove(x)")
    total = 0
    for mod in wanted:
        data = strip_source(core[mod]) if strip else core[mod]
        rel = "__init__.py" if mod == "irqkit" else "/".join(mod.split(".")[1:]) + ".py"
        name = microbit_fs_name("irqkit/" + rel)
        try:
            tr.fs_writefile(name, data.encode())
        except Exception as exc:  # OSError(ENOSPC), or TransportExecError when open() fails
            return f"upload failed at {name} after {total} bytes: {str(exc).strip().splitlines()[-1]}"
        total += len(data)
    return total


def _import_cost(tr: Any, mod: str, deps: list[str]) -> str:
    """What importing mod keeps, its dependencies imported first, bottom-up, each at top
    level: on 1.9.2 an import nested inside another module's import runs out of stack or
    of contiguous heap (the biggest files must compile first)."""
    _fresh(tr)
    first = "".join(f"import {d}\n" for d in deps if d != mod)
    out = _exec(tr, f"import gc\n{first}gc.collect()\na=gc.mem_free()\nimport {mod}\ngc.collect()\nprint(a, gc.mem_free())")
    if out.startswith("ERROR"):
        return out
    before, after = (int(x) for x in out.split())
    return f"ok: heap free {before} -> {after}, keeps {before - after} B"


def cmd_core(tr: Any, args: argparse.Namespace) -> int:
    # the micro:bit's core as deploy generates it, in the order it must be imported
    default = ["irqkit.clock", "irqkit.source", "irqkit.dispatch", "irqkit.sched"]
    modules = args.modules or default
    core = generated_core(modules)
    unknown = [m for m in modules if m not in core]
    if unknown:
        print(f"not in the micro:bit build: {', '.join(unknown)} (modules: {', '.join(core)})", file=sys.stderr)
        return 2
    failed = 0
    if args.each:  # each module alone with its dependencies: a fresh filesystem per module
        for mod in modules:
            deps = _deps(core, mod)
            up = _upload(tr, core, deps, args.minify)
            res = up if isinstance(up, str) else _import_cost(tr, mod, deps)
            size = "" if isinstance(up, str) else f"{up:6d} B source"
            failed += not res.startswith("ok")
            print(f"{mod:28s} {size:15s} {res}   (with {', '.join(d for d in deps if d != mod) or '-'})")
        return 1 if failed else 0
    wanted: list[str] = []
    for mod in modules:
        for dep in _deps(core, mod):
            if dep not in wanted:
                wanted.append(dep)
    up = _upload(tr, core, wanted, args.minify)
    if isinstance(up, str):
        print(f"upload: {up}")
        return 1
    print(f"uploaded {len(wanted)} modules, {up} bytes{' (stripped)' if args.minify else ''}")
    for mod in modules:
        res = _import_cost(tr, mod, _deps(core, mod))
        failed += not res.startswith("ok")
        print(f"import {mod:28s} {res} (with its imports)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("features")
    sub.add_parser("limits")
    p = sub.add_parser("core")
    p.add_argument("--minify", action="store_true", help="strip comments/docstrings (saves flash and ~25%% of heap)")
    p.add_argument("--each", action="store_true", help="each module alone (fresh filesystem) with its imports")
    p.add_argument("modules", nargs="*", help="modules to import (default: clock source dispatch sched)")
    args = parser.parse_args(argv)

    from mpremote.transport_serial import SerialTransport

    with start_microbit(timeout=60) as mb:
        print(f"# QEMU micro:bit on {mb.port}, REPL after {mb.boot_seconds:.2f} s")
        tr = SerialTransport(mb.port)
        try:
            tr.enter_raw_repl()
            return {"features": cmd_features, "limits": cmd_limits, "core": cmd_core}[args.cmd](tr, args)
        finally:
            tr.close()


if __name__ == "__main__":
    sys.exit(main())
