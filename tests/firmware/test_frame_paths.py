# The frame codec's two paths (issue 12.3): test_frame.py runs the default path (viper on
# the VM, pure Python on CPython); here every one of its tests runs again with the pure-
# Python path bound, so on the VM both paths pass the same vectors, the heap-locked one
# included. The 100 000 hypothesis payloads: tests/host/test_codec_paths.py.
import sys

import test_frame as T
from irqkit import frame as F
from fwtest import ON_MICROPYTHON, Skip

_NAMES = ("FrameDecoder", "FrameEncoder", "crc16")


def _bind(mod, dec, enc, crc):
    old = (getattr(mod, "FrameDecoder"), getattr(mod, "FrameEncoder"), getattr(mod, "crc16"))
    setattr(mod, "FrameDecoder", dec)
    setattr(mod, "FrameEncoder", enc)
    setattr(mod, "crc16", crc)
    return old


def _tests():
    names = [k for k in dir(T) if k.startswith("test_")]
    names.sort()
    return [getattr(T, k) for k in names]


def test_the_vm_uses_the_viper_path():
    if not ON_MICROPYTHON:
        assert F.CODEC == "python"   # the host's codec: the pure-Python path
        return
    if sys.platform == "linux":      # the unix VM has the emitter
        assert F.CODEC == "viper"
    assert F.CODEC in ("viper", "python")
    if F.CODEC == "viper":
        assert F.FrameDecoder is not F.PyFrameDecoder and F.crc16 is not F.py_crc16


def test_every_frame_vector_passes_on_the_python_path():
    # frame.encode/decode_frames look their classes up in the frame module; test_frame
    # imported its names: rebind both, run, restore
    old_f = _bind(F, F.PyFrameDecoder, F.PyFrameEncoder, F.py_crc16)
    old_t = _bind(T, F.PyFrameDecoder, F.PyFrameEncoder, F.py_crc16)
    ran = 0
    try:
        for fn in _tests():
            try:
                fn()
            except BaseException as e:
                # the heap-locked test skips on CPython (no heap lock there; pytest's
                # skip raises its own exception type)
                if not isinstance(e, Skip) and type(e).__name__ != "Skipped":
                    raise
            ran += 1
        assert T.FrameDecoder is F.PyFrameDecoder
    finally:
        _bind(F, old_f[0], old_f[1], old_f[2])
        _bind(T, old_t[0], old_t[1], old_t[2])
    assert ran >= 20
