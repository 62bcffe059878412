"""Launch the Gradio demo in a browser: every prompt type and output in one page.

    sam-compose demo [--engine SPEC] [--host 127.0.0.1] [--port 7860] [--root DIR]...

Every event reads files only from Gradio's uploads, the demos folder, the session's own
folder and the ``--root`` folders, and writes only in the session's folder; uploads are at
most ``SAM_COMPOSE_MAX_FILE_BYTES`` (see docs/security.md).
"""

from __future__ import annotations

import argparse
import os

from ..errors import InputError, require


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        default="auto",
        help="engine spec: auto (a local SAM checkpoint, else opencv), opencv, an HF id, a folder or a .pth",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="events running at once across all sessions; others queue (default 2)",
    )
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs network)")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder every session may read besides uploads and demos (repeatable; default none)",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument(
        "--allow-downloads",
        action="store_true",
        help="let the engine picker download models even when the demo is reachable from other machines "
        "(--host other than loopback, or --share); on 127.0.0.1 it always may",
    )


def main(args: argparse.Namespace) -> int:
    if not 0 <= int(args.port) <= 65535:
        raise InputError(f"--port must be 0..65535, got {args.port}")
    if args.concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, got {args.concurrency}")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    require("gradio", feature="the demo (sam-compose demo)")
    from ..engines import shared_engine
    from . import build_app

    engine = shared_engine(args.engine)  # resolve and load now: a bad spec fails here, not in the page
    print(f"sam-compose demo: engine {engine.spec} ({engine.name}) on http://{args.host}:{args.port or '<free port>'}")
    from ..security import limits

    downloads = bool(args.allow_downloads) or (is_loopback(args.host) and not args.share)
    demo = build_app(
        engine=engine.spec, concurrency=args.concurrency, allowed_roots=args.root, allow_downloads=downloads
    )
    demo.launch(
        server_name=args.host,
        server_port=int(args.port) or None,
        share=bool(args.share),
        inbrowser=not args.no_browser,
        show_error=True,
        max_file_size=limits.get("file_bytes"),
    )
    return 0


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
