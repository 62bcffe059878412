"""Serve segment_image, generate_masks and run_graph over MCP (stdio, or streamable HTTP on loopback)."""

from __future__ import annotations

import argparse

from ..errors import InputError, require

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", default="auto", help="engine spec (default: auto)")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder the tools may read; repeatable (default: the current folder)",
    )
    p.add_argument("--out", default=None, metavar="DIR", help="where masks are written (default: ROOT/sam_compose_out)")
    p.add_argument("--max-file-mb", type=float, default=25.0, help="largest input file in MB (default: 25)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a call may compute (default: 120)")
    p.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default) or streamable HTTP on a loopback address",
    )
    p.add_argument("--host", default="127.0.0.1", help="HTTP host, loopback only (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="HTTP port (default: 8765)")


def main(args: argparse.Namespace) -> int:
    require("mcp", feature="the MCP server (sam-compose mcp)")
    from .mcp_server import build_server
    from .service import AgentService

    if args.transport == "http" and args.host not in LOOPBACK:
        raise InputError(f"--host {args.host} is not a loopback address; the HTTP transport serves 127.0.0.1 only")
    service = AgentService(
        engine=args.engine,
        allowed_roots=args.root or None,
        output_dir=args.out,
        max_file_bytes=int(args.max_file_mb * 1024 * 1024),
        timeout_s=args.timeout,
    )
    server = build_server(service)
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=args.host, port=args.port)
    return 0
