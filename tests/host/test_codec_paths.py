"""The frame codec's two paths agree (issue 12.3): hypothesis generates the payloads on
CPython (the host's codec: the pure-Python path), the MicroPython VM encodes and decodes
every one of them with its viper path *and* its pure-Python path in one batch, and all
three must give the same bytes, payloads and error counters. Each record also goes through
the decoders a second time with one byte corrupted, so the error paths are compared too.

IRQKIT_CODEC_EXAMPLES sets how many payloads (default 100 000: ~2-3 min of hypothesis
generation on this machine; the VM part takes seconds).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from irqkit import frame

ROOT = Path(__file__).resolve().parents[2]
MICROPYTHON = shutil.which("micropython")
EXAMPLES = int(os.environ.get("IRQKIT_CODEC_EXAMPLES", "100000"))

# Runs on the VM: argv[1] = the batch file. Prints one result line.
VM_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[2])
import hashlib
from irqkit import frame as F
assert F.CODEC == "viper", F.CODEC
ev, ep = F.FrameEncoder(), F.PyFrameEncoder()
dv, dp = F.FrameDecoder(), F.PyFrameDecoder()
cv, cp = F.FrameDecoder(), F.PyFrameDecoder()   # the corrupted stream
h = hashlib.sha256()
data = open(sys.argv[1], "rb").read()
i = 0
k = 0
bad = []
while i < len(data):
    t, s, fi, fm, n = data[i], data[i + 1], data[i + 2], data[i + 3], data[i + 4]
    p = data[i + 5:i + 5 + n]
    i += 5 + n
    lv = ev.encode_into(t, s, p, n)
    lp = ep.encode_into(t, s, p, n)
    fv = bytes(ev.buf[:lv])
    if fv != bytes(ep.buf[:lp]) and len(bad) < 5:
        bad.append("encode %d" % k)
    h.update(fv)
    for d in (dv, dp):
        used = d.feed_buf(fv, lv, 0)
        if not (d.ready and used == lv and d.type == t and d.seq == s
                and d.payload_bytes() == p) and len(bad) < 5:
            bad.append("decode %d %s" % (k, "viper" if d is dv else "python"))
    c = bytearray(fv)
    c[fi % lv] ^= fm
    for d in (cv, cp):
        j = 0
        got = []
        while j < lv:
            j += d.feed_buf(c, lv, j)
            if d.ready:
                got.append((d.type, d.seq, d.payload_bytes()))
        if d is cv:
            gv = got
        elif got != gv and len(bad) < 5:
            bad.append("corrupt %d: %r vs %r" % (k, gv, got))
    k += 1
print("|".join(["RESULT", str(k), h.digest().hex(),
      repr(sorted(dv.counters().items())), repr(sorted(dp.counters().items())),
      repr(sorted(cv.counters().items())), repr(sorted(cp.counters().items())), repr(bad)]))
"""


def _records() -> list[bytes]:
    out: list[bytes] = []

    @settings(max_examples=EXAMPLES, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.binary(min_size=4, max_size=4 + frame.MAX_PAYLOAD))
    def gen(b: bytes) -> None:
        # type, seq, which byte to corrupt, the xor mask (never 0), then the payload
        out.append(bytes([b[0], b[1], b[2], b[3] | 1]) + bytes([len(b) - 4]) + b[4:])

    gen()
    return out


@pytest.mark.skipif(MICROPYTHON is None, reason="needs the micropython VM on PATH")
def test_viper_and_python_paths_agree_on_hypothesis_payloads(tmp_path: Path) -> None:
    recs = _records()
    assert len(recs) >= min(EXAMPLES, 1000)
    batch = tmp_path / "batch.bin"
    batch.write_bytes(b"".join(recs))
    # the host's codec (pure Python on CPython): expected bytes and counters
    assert frame.CODEC == "python"
    h = hashlib.sha256()
    dec = frame.FrameDecoder()
    cdec = frame.FrameDecoder()
    for r in recs:
        t, s, fi, fm, n = struct.unpack_from("5B", r)
        f = frame.encode(t, s, r[5:5 + n])
        h.update(f)
        assert frame.decode_frames(f, dec) == [(t, s, r[5:5 + n])]
        c = bytearray(f)
        c[fi % len(f)] ^= fm
        frame.decode_frames(bytes(c), cdec)
    script = tmp_path / "agree.py"
    script.write_text(VM_SCRIPT)
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=64M", str(script), str(batch),
                           str(ROOT / "firmware")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT|")]
    assert line, proc.stdout
    _, k, digest, cnt_v, cnt_p, ccnt_v, ccnt_p, bad = line[0].split("|")
    assert bad == "[]", bad
    assert int(k) == len(recs)
    assert digest == h.hexdigest()              # the VM's viper frames = the host's frames
    want = repr(sorted(dec.counters().items()))
    assert cnt_v == cnt_p == want
    cwant = repr(sorted(cdec.counters().items()))
    assert ccnt_v == ccnt_p == cwant
    assert cdec.errors() > len(recs) // 2        # the corrupted copies did exercise errors
