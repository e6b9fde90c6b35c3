"""The firmware's layers, read from their manifests (``firmware/irqkit/manifests/LAYER.py``).

Each layer is a MicroPython manifest in micropython-lib's style (``metadata``, ``include``,
``package``, ``module``), so a firmware build can freeze a layer with ``include()``; this
module reads the same files with that subset of the API and no other code: one list of files
per layer, which ``irqkit deploy``, ``package.json`` (:func:`package_json`), the board files
(``firmware.layers``) and the tests all use.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import irqkit

from ..errors import DeployError

#: The package the firmware files live in (paths in a layer are relative to it).
PACKAGE = "irqkit"


@dataclass(frozen=True)
class Layer:
    name: str
    description: str
    includes: tuple[str, ...]     # layer names, in the order they are included
    own_files: tuple[str, ...]    # relative to the irqkit package, e.g. "ports/machine_port.py"


def manifests_dir() -> Path:
    return Path(irqkit.__file__).resolve().parent / "manifests"


def layer_names() -> list[str]:
    return sorted(p.stem for p in manifests_dir().glob("*.py"))


@lru_cache(maxsize=None)
def load_layer(name: str) -> Layer:
    """Read one manifest; an unknown layer or a manifest outside the subset is a DeployError."""
    path = manifests_dir() / f"{name}.py"
    if not path.is_file():
        raise DeployError(f"unknown firmware layer {name!r} (layers: {', '.join(layer_names())})")
    description: list[str] = []
    includes: list[str] = []
    collected: list[str] = []
    package_dir = Path(irqkit.__file__).resolve().parent

    def metadata(description_: str | None = None, **_ignored: Any) -> None:
        description.append(description_ or "")

    def include(manifest: str) -> None:
        target = (path.parent / manifest).resolve()
        if target.parent != path.parent or target.suffix != ".py":
            raise DeployError(f"{path.name}: include({manifest!r}) must name a layer in {path.parent}")
        includes.append(target.stem)

    def package(package_path: str, files: tuple[str, ...] | None = None, base_path: str = ".",
                opt: int | None = None) -> None:
        root = (path.parent / base_path / package_path).resolve()
        if package_path != PACKAGE or root != package_dir or files is None:
            raise DeployError(f"{path.name}: package() must list files of {PACKAGE!r} at {package_dir}")
        for rel in files:
            if not (root / rel).is_file():
                raise DeployError(f"{path.name}: {rel} is not in {root}")
            collected.append(rel)

    api = {"metadata": lambda description=None, **kw: metadata(description, **kw),
           "include": include, "package": package}
    try:
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), {"__builtins__": {}}, api)
    except DeployError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken manifest is one line
        raise DeployError(f"{path.name}: not a manifest irqkit can read: {exc}") from None
    return Layer(name, description[0] if description else "", tuple(includes), tuple(collected))


def layer_files(*names: str) -> list[str]:
    """The files of these layers and of everything they include, each once, includes first
    (the order a small board imports them in)."""
    out: list[str] = []
    seen: set[str] = set()

    def walk(name: str, stack: tuple[str, ...]) -> None:
        if name in stack:
            raise DeployError(f"firmware layers include each other: {' -> '.join(stack + (name,))}")
        if name in seen:
            return
        seen.add(name)
        layer = load_layer(name)
        for inc in layer.includes:
            walk(inc, stack + (name,))
        out.extend(f for f in layer.own_files if f not in out)

    for n in names:
        walk(n, ())
    return out


def package_json(*names: str) -> dict[str, Any]:
    """mip's package.json for these layers: every file as a URL relative to the json, which
    sits in ``firmware/`` (``mpremote mip install firmware/package.json``)."""
    return {
        "urls": [[f"{PACKAGE}/{rel}", f"{PACKAGE}/{rel}"] for rel in layer_files(*names)],
        "deps": [],
        "version": irqkit.VERSION,
    }


def package_json_text(*names: str) -> str:
    return json.dumps(package_json(*names), indent=2) + "\n"
