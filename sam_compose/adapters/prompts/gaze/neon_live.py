"""Live gaze from a Pupil Labs Neon (or Invisible) through ``pupil-labs-realtime-api``.

    from sam_compose.adapters.prompts.gaze.neon_live import neon_fixations
    for fix in neon_fixations("192.168.1.23", duration=10.0):   # the Companion phone's address
        prompts = gaze_to_prompts([fix], image=frame, scene_size=(1200, 1600))

:func:`iter_neon_gaze` asks the device (``GET /api/status`` on ``port``, 8080 by default)
for its gaze stream and yields the realtime API's gaze datums (``x``, ``y`` in scene
camera pixels, ``worn``, ``timestamp_unix_seconds``), or reads a stream ``url`` directly.
:func:`neon_fixations` feeds them to :class:`~.live.LiveGaze` (the same detector as for a
recorded file) and yields each fixation once it has ended. The stream is driven from the
calling thread with its own event loop; ``duration`` (seconds) or ``max_samples`` stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ....errors import require
from .devices import DEVICES
from .errors import GazeError
from .live import live_fixations
from .samples import Fixation

__all__ = ["gaze_stream_url", "iter_neon_gaze", "neon_fixations"]

DEFAULT_PORT = 8080


async def gaze_stream_url(address: str, port: int = DEFAULT_PORT) -> str:
    """The gaze stream URL the device at ``address``:``port`` announces in its status."""
    rt = require("pupil_labs.realtime_api", feature="live Neon gaze")
    try:
        async with rt.Device(address, port) as device:
            status = await device.get_status()
    except (OSError, asyncio.TimeoutError, rt.DeviceError) as exc:
        raise GazeError(
            f"cannot reach the Neon Companion at {address}:{port} ({' '.join(str(exc).split())[:120]}); "
            "check the address, that the phone is on this network and the app is open"
        ) from exc
    sensor = status.direct_gaze_sensor()
    if sensor is None or not sensor.connected or sensor.url is None:
        raise GazeError(f"the device at {address}:{port} streams no gaze right now; connect the glasses to the phone")
    return str(sensor.url)


async def _agen(address: str | None, port: int, url: str | None) -> AsyncIterator[Any]:
    rt = require("pupil_labs.realtime_api", feature="live Neon gaze")
    if url is None:
        if address is None:
            raise GazeError("give the device's address (or a gaze stream url)")
        url = await gaze_stream_url(address, port)
    async for datum in rt.receive_gaze_data(url):
        yield datum


def iter_neon_gaze(
    address: str | None = None,
    port: int = DEFAULT_PORT,
    *,
    url: str | None = None,
    duration: float | None = None,
    max_samples: int | None = None,
) -> Iterator[Any]:
    """Gaze datums from a Neon as they arrive (a blocking iterator), until ``duration`` seconds
    have passed or ``max_samples`` came, or the stream ends."""
    loop = asyncio.new_event_loop()
    agen = _agen(address, port, url)
    t_end = None if duration is None else time.monotonic() + float(duration)
    n = 0
    try:
        while True:
            if t_end is not None and time.monotonic() >= t_end:
                break
            if max_samples is not None and n >= max_samples:
                break
            try:
                timeout = None if t_end is None else max(t_end - time.monotonic(), 0.01)
                datum = loop.run_until_complete(asyncio.wait_for(agen.__anext__(), timeout))
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                break
            n += 1
            yield datum
    finally:
        _shutdown(loop, agen)


def _shutdown(loop: asyncio.AbstractEventLoop, agen: Any) -> None:
    """Close the stream and let the RTSP client's own tasks finish before the loop closes."""
    with contextlib.suppress(RuntimeError, GazeError, OSError):
        loop.run_until_complete(agen.aclose())
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def neon_fixations(
    address: str | None = None,
    port: int = DEFAULT_PORT,
    *,
    url: str | None = None,
    duration: float | None = None,
    max_samples: int | None = None,
    scene_size: tuple[int, int] | None = None,
    **params: Any,
) -> Iterator[Fixation]:
    """Fixations of a live Neon, each yielded once it has ended (scene camera pixels, seconds on
    the Unix clock). ``scene_size`` defaults to Neon's (1200, 1600) with its field of view;
    other keyword arguments are :func:`.fixations.detect_fixations` parameters."""
    dev = DEVICES["neon"]
    size = dev.scene_size if scene_size is None else scene_size
    if scene_size is None:
        params.setdefault("fov", dev.fov)
    source = iter_neon_gaze(address, port, url=url, duration=duration, max_samples=max_samples)
    yield from live_fixations(source, scene_size=size, **params)
