"""A stand-in Neon Companion on 127.0.0.1 for the live-gaze tests.

It answers ``GET /api/status`` like the Companion app (a Phone and a direct gaze Sensor)
and serves the gaze stream over RTSP with TCP-interleaved RTP (``rtspt://``): OPTIONS,
DESCRIBE (an SDP with one application track at a 1 MHz clock), SETUP, PLAY, then an RTCP
sender report and one RTP packet per sample whose payload is the realtime API's basic gaze
datum (``!ffB``: x, y, worn = 255). Runs in a background thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from typing import Any

import numpy as np

CLOCK = 1_000_000  # RTP clock rate (Hz) announced in the SDP


class NeonStandIn:
    """``NeonStandIn(samples)`` with ``samples`` (N, 3) ``[t_unix_s, x, y]``; use as a context manager;
    ``address``/``port`` of the HTTP API and ``rtsp_url`` once started."""

    def __init__(self, samples: np.ndarray, rate_hz: float = 200.0) -> None:
        self.samples = np.asarray(samples, np.float64)
        self.rate = rate_hz
        self.address = "127.0.0.1"
        self.port = 0
        self.rtsp_port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[Any] = []
        self.requests: list[str] = []

    @property
    def rtsp_url(self) -> str:
        return f"rtspt://{self.address}:{self.rtsp_port}/?camera=gaze"

    def __enter__(self) -> NeonStandIn:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        async def stop() -> None:
            for s in self._servers:
                s.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        http = await asyncio.start_server(self._http, "127.0.0.1", 0)
        rtsp = await asyncio.start_server(self._rtsp, "127.0.0.1", 0)
        self._servers += [http, rtsp]
        self.port = http.sockets[0].getsockname()[1]
        self.rtsp_port = rtsp.sockets[0].getsockname()[1]

    # ------------------------------------------------------------------ HTTP status
    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        self.requests.append(line.strip())
        status = [
            {
                "model": "Phone",
                "data": {
                    "battery_level": 90,
                    "battery_state": "OK",
                    "device_id": "standin",
                    "device_name": "Neon Companion",
                    "ip": "127.0.0.1",
                    "memory": 10**9,
                    "memory_state": "OK",
                },
            },
            {"model": "Hardware", "data": {"version": "2.0", "module_serial": "123456"}},
            {
                "model": "Sensor",
                "data": {
                    "sensor": "gaze",
                    "conn_type": "DIRECT",
                    "connected": True,
                    "ip": "127.0.0.1",
                    "port": self.rtsp_port,
                    "params": "camera=gaze",
                    "protocol": "rtspt",
                    "stream_error": False,
                },
            },
        ]
        body = json.dumps({"message": "ok", "result": status}).encode()
        code = "200 OK" if line.startswith("GET /api/status") else "404 Not Found"
        writer.write(
            f"HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    # ------------------------------------------------------------------ RTSP
    async def _rtsp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from aiortsp.rtcp.parser import RTCP, SR

        session = "4711"
        streaming: asyncio.Task | None = None
        try:
            while True:
                first = await reader.readline()
                if not first:
                    break
                if first.startswith(b"$"):  # interleaved RTCP from the client: skip it
                    rest = first[1:]
                    while len(rest) < 3:
                        rest += await reader.readexactly(3 - len(rest))
                    size = struct.unpack("!H", rest[1:3])[0]
                    have = len(rest) - 3
                    if size > have:
                        await reader.readexactly(size - have)
                    continue
                method = first.split(b" ")[0].decode()
                headers: dict[str, str] = {}
                while True:
                    h = (await reader.readline()).decode().strip()
                    if not h:
                        break
                    k, _, v = h.partition(":")
                    headers[k.strip().lower()] = v.strip()
                self.requests.append(method)
                cseq = headers.get("cseq", "0")
                extra, body = "", b""
                if method == "OPTIONS":
                    extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
                elif method == "DESCRIBE":
                    body = (
                        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=gaze\r\nt=0 0\r\n"
                        f"m=application 0 RTP/AVP 99\r\na=rtpmap:99 com.pupillabs.gaze1/{CLOCK}\r\n"
                        "a=control:trackID=0\r\n"
                    ).encode()
                    extra = f"Content-Base: rtsp://127.0.0.1:{self.rtsp_port}/\r\nContent-Type: application/sdp\r\n"
                elif method == "SETUP":
                    transport = headers.get("transport", "RTP/AVP/TCP;unicast;interleaved=0-1")
                    extra = f"Transport: {transport}\r\nSession: {session};timeout=60\r\n"
                elif method in ("PLAY", "GET_PARAMETER", "TEARDOWN"):
                    extra = f"Session: {session}\r\n"
                writer.write(
                    f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body
                )
                await writer.drain()
                if method == "PLAY" and streaming is None:
                    streaming = asyncio.ensure_future(self._stream(writer, RTCP, SR))
                if method == "TEARDOWN":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if streaming is not None:
                streaming.cancel()
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter, RTCP: Any, SR: Any) -> None:
        ssrc, t0 = 0x5A5A, float(self.samples[0, 0])
        sr = bytes(RTCP([SR(ssrc=ssrc, ntp=t0, ts=0)]))
        writer.write(b"$" + bytes([1]) + struct.pack("!H", len(sr)) + sr)
        for seq, (t, x, y) in enumerate(self.samples):
            ts = int(round((t - t0) * CLOCK)) & 0xFFFFFFFF
            rtp = struct.pack("!BBHII", 0x80, 99, seq & 0xFFFF, ts, ssrc) + struct.pack("!ffB", x, y, 255)
            writer.write(b"$" + bytes([0]) + struct.pack("!H", len(rtp)) + rtp)
            if seq % 20 == 0:
                await writer.drain()
                await asyncio.sleep(0.001)
        await writer.drain()
