"""``--port labgrid:PLACE``: a labgrid place's serial port as a pyserial URL.

The place is looked up through the labgrid coordinator (``LG_COORDINATOR``, default
``127.0.0.1:20408``, as ``labgrid-client`` does), must be acquired by this user on this
host (``labgrid-client -p PLACE acquire``), and must hold one ``NetworkSerialPort`` (what
an exporter publishes for a ``RawSerialPort`` or ``USBSerialPort``), or name one:
``labgrid:PLACE/NAME``. The result is an ``rfc2217://HOST:PORT?ign_set_control`` URL
(``socket://`` for a raw port) that deploy and measure open like any other.

labgrid is an optional dependency (``pip install 'irqkit[labgrid]'``): it is imported
only when a ``labgrid:`` port is used.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from ..errors import LinkError
from .remote import normalize_url

__all__ = ["PREFIX", "LabgridError", "place_url", "resolve_port"]

PREFIX = "labgrid:"
DEFAULT_COORDINATOR = "127.0.0.1:20408"
_SERIAL_CLS = "NetworkSerialPort"


class LabgridError(LinkError):
    """The place cannot be used (not found, not acquired, no serial port, no labgrid)."""


def resolve_port(port: str) -> str:
    """The pyserial URL for a ``--port`` string: ``labgrid:PLACE`` resolved, others normalized."""
    if port.startswith(PREFIX):
        return place_url(port[len(PREFIX):])
    return normalize_url(port)


def _serial_url(args: dict[str, Any]) -> str:
    host, port = args.get("host"), args.get("port")
    if not host or not port:
        raise LabgridError(f"the serial port's exporter publishes no host/port ({args})")
    if args.get("protocol", "rfc2217") == "raw":
        return f"socket://{host}:{port}"
    return normalize_url(f"rfc2217://{host}:{port}")


def place_url(spec: str, coordinator: str | None = None) -> str:
    """``PLACE`` or ``PLACE/NAME`` -> the URL of its serial port (see the module doc)."""
    place_name, _, res_name = spec.partition("/")
    if not place_name:
        raise LabgridError("labgrid: needs a place name, e.g. --port labgrid:my-board")
    try:
        # optional dependency: labgrid is only needed for labgrid: ports
        from labgrid.remote.client import Error as ClientError
        from labgrid.remote.client import start_session
    except ImportError:
        raise LabgridError(f"--port {PREFIX}{spec} needs labgrid: pip install 'irqkit[labgrid]' "
                           "(see host/docs/board-farm.md)") from None
    address = coordinator or os.environ.get("LG_COORDINATOR", DEFAULT_COORDINATOR)
    logging.disable(logging.ERROR)  # labgrid logs a failed connect itself; we say it once
    try:
        session = start_session(address)
    except Exception:  # noqa: BLE001 - grpc/labgrid raise many kinds; one line
        raise LabgridError(f"cannot reach the labgrid coordinator at {address} (is "
                           "labgrid-coordinator running there? set LG_COORDINATOR)") from None
    finally:
        logging.disable(logging.NOTSET)
    try:
        try:
            place = session.get_place(place_name)
            session.get_acquired_place(place.name)   # raises when not acquired by us
            resources = session.get_target_resources(place)
        except ClientError as exc:
            msg = str(exc)
            if msg.endswith("is not acquired"):
                msg += f" (acquire it: labgrid-client -p {place_name} acquire)"
            raise LabgridError(f"labgrid place {place_name!r}: {msg}") from None
        serials = {name: res for (name, cls), res in resources.items() if cls == _SERIAL_CLS}
        if res_name:
            if res_name not in serials:
                raise LabgridError(f"labgrid place {place.name!r} has no serial port named "
                                   f"{res_name!r} (it has: {', '.join(sorted(serials)) or 'none'})")
            chosen = serials[res_name]
        elif len(serials) == 1:
            chosen = next(iter(serials.values()))
        elif not serials:
            raise LabgridError(f"labgrid place {place.name!r} has no serial port "
                               f"(no {_SERIAL_CLS} among its acquired resources)")
        else:
            raise LabgridError(f"labgrid place {place.name!r} has several serial ports: name one, "
                               f"e.g. --port {PREFIX}{place.name}/{sorted(serials)[0]}")
        if not chosen.avail:
            raise LabgridError(f"labgrid place {place.name!r}: its serial port is not available "
                               "(exporter lost the device?)")
        if chosen.extra.get("proxy_required"):
            raise LabgridError(f"labgrid place {place.name!r}: its exporter is reachable only "
                               "through an SSH proxy, which irqkit does not set up; forward the "
                               "port yourself and use --port rfc2217://HOST:PORT")
        return _serial_url(dict(chosen.args))
    finally:
        try:
            session.loop.run_until_complete(session.stop())
            session.loop.run_until_complete(session.close())
        except Exception:  # noqa: BLE001 - closing the coordinator stream must not mask a result
            pass
