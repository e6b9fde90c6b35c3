# Run firmware test modules on the MicroPython VM (or any Python): imports each module,
# calls every `test_*` function, prints one line per test and a summary.
#
#   micropython tools/mptest.py tests/firmware/test_ring.py [more files] [-k name]
#
# Output lines (parsed by tests/test_firmware_micropython.py):
#   PASS <module>::<test>
#   FAIL <module>::<test>: <exception>     (traceback follows on the next lines)
#   SKIP <module>::<test>: <reason>
#   SUMMARY passed=N failed=N skipped=N
# Exit status 1 if any test failed.
import sys


def _dirname(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else "."


def _setup_path(script):
    root = _dirname(_dirname(script))
    for p in (root + "/tests/firmware", root + "/firmware"):
        if p not in sys.path:
            sys.path.insert(0, p)


def _run_module(path, only, totals):
    name = path.split("/")[-1]
    if name.endswith(".py"):
        name = name[:-3]
    mod = __import__(name)
    from fwtest import Skip
    names = sorted(n for n in dir(mod) if n.startswith("test_"))
    for n in names:
        if only and only not in n:
            continue
        fn = getattr(mod, n)
        label = name + "::" + n
        try:
            fn()
        except Skip as e:
            totals[2] += 1
            print("SKIP %s: %s" % (label, e))
        except Exception as e:
            totals[1] += 1
            print("FAIL %s: %s: %s" % (label, type(e).__name__, e))
            sys.print_exception(e) if hasattr(sys, "print_exception") else None
        else:
            totals[0] += 1
            print("PASS " + label)


def main(argv):
    _setup_path(argv[0])
    only = None
    files = []
    i = 1
    while i < len(argv):
        if argv[i] == "-k":
            only = argv[i + 1]
            i += 2
        else:
            files.append(argv[i])
            i += 1
    totals = [0, 0, 0]
    for f in files:
        try:
            _run_module(f, only, totals)
        except Exception as e:  # the module itself failed to import
            totals[1] += 1
            print("FAIL %s::<import>: %s: %s" % (f, type(e).__name__, e))
            sys.print_exception(e) if hasattr(sys, "print_exception") else None
    print("SUMMARY passed=%d failed=%d skipped=%d" % tuple(totals))
    return 1 if totals[1] else 0


sys.exit(main(sys.argv))
