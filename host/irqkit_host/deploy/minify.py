"""Source for boards that compile on the device: comments and docstrings stripped, and
the flat filesystem's names for package files (the BBC micro:bit's MicroPython 1.9.2)."""
from __future__ import annotations

import io
import tokenize


def microbit_fs_name(relpath: str) -> str:
    """The micro:bit filesystem name for a file of a package, so that imports still work.

    The micro:bit filesystem is flat (no directories, but ``/`` is allowed in a name) and
    1.9.2 cannot import packages (``irqkit/__init__.py`` is not found).  It can import
    *submodules of a module*, though: after loading ``irqkit.py`` it looks for
    ``irqkit.compat`` at ``irqkit.py/compat.py``.  So ``irqkit/__init__.py`` -> ``irqkit.py``,
    ``irqkit/ring.py`` -> ``irqkit.py/ring.py``, ``irqkit/ports/x.py`` ->
    ``irqkit.py/ports.py/x.py``, and ``from irqkit.ring import Ring`` works unchanged
    (checked on the QEMU micro:bit, two levels deep).  Relative imports are not supported.
    """
    rel = relpath.replace("\\", "/").strip("/")
    if not rel.endswith(".py"):
        raise ValueError(f"not a .py file: {relpath}")
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or any(not p for p in parts):
        raise ValueError(f"bad module path: {relpath}")
    return "/".join(p + ".py" for p in parts)


def strip_source(src: str) -> str:
    """Drop comments, docstrings and blank lines; indent one space per level.

    For boards that compile source on the device (the micro:bit runs 1.9.2 and cannot load
    .mpy).  The result has the same AST minus docstrings.  Measured on the QEMU micro:bit:
    compat.py 3159 -> ~1700 bytes of flash, and the heap compat+ring keep after import
    3616 -> 2816 bytes (docstrings are kept as interned strings by the 1.9.2 parser).
    """
    toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    lines: list[tuple[int, str]] = []
    depth = 0
    cur: list[tokenize.TokenInfo] = []
    for i, tok in enumerate(toks):
        if tok.type in (tokenize.COMMENT, tokenize.NL):
            continue
        if tok.type == tokenize.INDENT:
            depth += 1
            continue
        if tok.type == tokenize.DEDENT:
            depth -= 1
            continue
        if tok.type == tokenize.ENDMARKER:
            break
        if tok.type == tokenize.NEWLINE:
            if cur:
                lines.append((depth, _join_tokens(cur)))
            cur = []
            continue
        if tok.type == tokenize.STRING and not cur:  # a bare string statement: a docstring
            j = i + 1
            while toks[j].type in (tokenize.COMMENT, tokenize.NL):
                j += 1
            if toks[j].type == tokenize.NEWLINE:
                lines.append((depth, "pass"))
                toks[j] = toks[j]._replace(type=tokenize.NL)  # the statement is done
                continue
        cur.append(tok)
    out = []
    for k, (d, text) in enumerate(lines):  # keep a docstring's 'pass' only if the block is empty
        if text == "pass" and k + 1 < len(lines) and lines[k + 1][0] >= d:
            continue
        out.append(" " * d + text)
    return "\n".join(out) + "\n"


def _join_tokens(toks: list[tokenize.TokenInfo]) -> str:
    words = (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)
    text = ""
    prev: tokenize.TokenInfo | None = None
    for tok in toks:
        if prev is not None and prev.type in words and tok.type in words:
            text += " "
        text += tok.string
        prev = tok
    return text
