"""Write firmware/package.json (mip's install list) from the firmware layers' manifests.

    python tools/gen_package_json.py          # rewrite it
    python tools/gen_package_json.py --check  # exit 1 if it is out of date

It holds what `irqkit deploy` gives a `machine` board (deploy.firmware.MIP_LAYERS);
tests/host/test_manifest.py fails when the file and the manifests disagree.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "host"), str(ROOT / "firmware")]

from irqkit_host.deploy.firmware import MIP_LAYERS  # noqa: E402
from irqkit_host.deploy.manifest import package_json_text  # noqa: E402

TARGET = ROOT / "firmware" / "package.json"


def main(argv: list[str]) -> int:
    text = package_json_text(*MIP_LAYERS)
    if "--check" in argv:
        if TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python tools/gen_package_json.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
