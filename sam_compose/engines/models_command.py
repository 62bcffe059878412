"""List, download and verify model checkpoints: ``sam-compose models list|download NAME|verify``.

``list`` prints the known checkpoints (DESIGN.md) and whether each is in the local Hugging
Face cache; ``download NAME`` fetches one through ``huggingface_hub`` with a progress bar so
a machine can be prepared for offline use; ``verify`` checks every cached model: its
config loads and its safetensors headers are intact. Nothing here waits on the network
when ``HF_HUB_OFFLINE=1`` or the hub is unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EngineError, InputError
from .catalog import KNOWN_MODELS, KnownModel, find_known


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_action", metavar="ACTION")
    p_list = sub.add_parser("list", help="known checkpoints and whether they are cached here")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_dl = sub.add_parser("download", help="download a checkpoint into the Hugging Face cache")
    p_dl.add_argument("name", help="short name (sam-vit-base), or a Hugging Face id")
    p_ver = sub.add_parser("verify", help="check cached checkpoints (config loads, weights intact)")
    p_ver.add_argument("name", nargs="?", help="only this model")
    p_ver.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _status(m: KnownModel) -> dict[str, Any]:
    from .hub import cached_snapshot

    folder = cached_snapshot(m.repo_id)
    return {
        "name": m.name,
        "repo_id": m.repo_id,
        "family": m.family,
        "size_mb": m.size_mb,
        "licence": m.licence,
        "supports": list(m.supports),
        "meta_filename": m.meta_filename,
        "cached": folder is not None,
        "path": str(folder) if folder else None,
        "note": m.note,
    }


def cmd_list(args: argparse.Namespace) -> int:
    rows = [_status(m) for m in KNOWN_MODELS]
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'NAME':<23} {'FAMILY':<7} {'SIZE':>7}  {'LICENCE':<11} {'SUPPORTS':<29} {'CACHED':<6}  REPOSITORY")
    for r in rows:
        lic = r["licence"]
        print(
            f"{r['name']:<23} {r['family']:<7} {_size(r['size_mb']):>7}  {lic:<11} {','.join(r['supports']):<29} "
            f"{'yes' if r['cached'] else 'no':<6}  {r['repo_id']}"
        )
    print(
        "Meta checkpoints load by path, e.g. --engine ~/models/sam_vit_b_01ec64.pth or sam2.1_hiera_tiny.pt; "
        "SAM 3 is gated: accept its licence on the hub before downloading"
    )
    return 0


def _size(mb: int) -> str:
    return f"{mb / 1024:.1f}GB" if mb >= 1024 else f"{mb}MB"


def _resolve_name(name: str) -> str:
    known = find_known(name)
    if known is not None:
        return known.repo_id
    if name.count("/") == 1 and all(name.split("/")):
        return name
    names = ", ".join(m.name for m in KNOWN_MODELS)
    raise InputError(f"unknown model {name!r}; use one of: {names}, or a Hugging Face id like facebook/sam-vit-base")


def cmd_download(args: argparse.Namespace) -> int:
    from .downloads import offline_reason
    from .hub import cache_dir, download

    repo = _resolve_name(args.name)
    why = offline_reason()  # one line, at once, when nothing can be downloaded
    if why is not None:
        raise EngineError(
            f"cannot download {repo}: {why}; on a machine with internet run "
            f"`sam-compose models download {args.name}` and copy {cache_dir()} here"
        )
    print(f"downloading {repo} into {cache_dir()} ...", file=sys.stderr)
    path = download(repo)
    print(json.dumps({"name": args.name, "repo_id": repo, "path": path}))
    return 0


def _verify_one(m: KnownModel) -> dict[str, Any]:
    from .hub import cached_snapshot, check_weights, read_config

    row = {"name": m.name, "repo_id": m.repo_id, "cached": False, "ok": None, "detail": "not downloaded"}
    folder = cached_snapshot(m.repo_id)
    if folder is None:
        return row
    row["cached"] = True
    try:
        cfg = read_config(folder)
        if m.family != "clip":
            import transformers

            transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
        check_weights(folder)
        row.update(ok=True, detail=f"model_type={cfg.get('model_type', '?')}")
    except Exception as exc:  # report every failure as a row, keep going
        row.update(ok=False, detail=" ".join(str(exc).split())[:200])
    return row


def cmd_verify(args: argparse.Namespace) -> int:
    models = list(KNOWN_MODELS)
    if getattr(args, "name", None):
        known = find_known(args.name)
        if known is None:
            _resolve_name(args.name)  # raises with the list of names
            raise InputError(f"{args.name!r} is not in the catalog; verify takes a name from `sam-compose models list`")
        models = [known]
    rows = [_verify_one(m) for m in models]
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = "missing" if not r["cached"] else ("ok" if r["ok"] else "BROKEN")
            print(f"{r['name']:<24} {state:<8} {r['detail']}")
        if not any(r["cached"] for r in rows):
            print("no model is cached; run `sam-compose models download sam-vit-base` on a machine with internet")
    return 1 if any(r["ok"] is False for r in rows) else 0


def main(args: argparse.Namespace) -> int:
    action = getattr(args, "models_action", None)
    if action == "list":
        return cmd_list(args)
    if action == "download":
        return cmd_download(args)
    if action == "verify":
        return cmd_verify(args)
    raise InputError("usage: sam-compose models list|download NAME|verify")
