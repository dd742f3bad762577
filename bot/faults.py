"""Test-only fault points: make the process stop at a named place so a test can kill -9 it there.

Not a setting and not for production. A process-level test sets, before starting
`saferbot run`:

    SAFERBOT_FAULT_PAUSE=intake:/tmp/x/marker

and then every call to `pause("intake")` writes the marker file (its text names the
event) and sleeps for an hour: the test sees the marker, knows the platform has
delivered the event and the store has not yet recorded it, and kills the process
inside that window. Several points may be listed, comma-separated. The points:

    intake  in Engine.receive, before the event is stored
    stored  in Engine.receive, after its transaction committed, before the transport
            confirms it to the platform (so a restart receives a repeat)

When the variable is unset (always, outside tests) `ARMED` is False and callers skip
the call entirely, so a fault point costs one attribute read.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

ENV = "SAFERBOT_FAULT_PAUSE"
PAUSE_SECONDS = 3600.0


def _parse(spec: str) -> dict[str, Path]:
    points: dict[str, Path] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        point, _, marker = item.partition(":")
        if point and marker:
            points[point] = Path(marker)
    return points


_POINTS = _parse(os.environ.get(ENV, ""))
ARMED = bool(_POINTS)


async def pause(point: str, detail: str = "") -> None:
    """If `point` is armed: leave the marker, then wait (for the test to kill the process)."""
    marker = _POINTS.get(point)
    if marker is None:
        return
    with marker.open("a") as f:
        f.write(f"{point} {detail}\n")
    await asyncio.sleep(PAUSE_SECONDS)
