"""Segment one image; print one JSON object; with --out write mask PNGs, masks.json and overlay.png.

Output on stdout:
    {"image": ..., "engine": ..., "masks": [{"score", "area", "box", "path"}], "timings_ms": {...}}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import InputError


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image file, or sample:NAME for a scikit-image photograph (e.g. sample:coffee)")
    p.add_argument(
        "--engine", default="auto", help="engine spec: opencv, auto, an HF id, a folder or a .pth (default: auto)"
    )
    p.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="X,Y[,LABEL]",
        help="a point in pixels; LABEL 1 = foreground (default), 0 = background; repeatable",
    )
    p.add_argument("--box", action="append", default=[], metavar="X0,Y0,X1,Y1", help="a box in pixels; repeatable")
    p.add_argument("--text", default=None, help='describe the object, e.g. "a red mug" (needs CLIP weights)')
    p.add_argument(
        "--gaze",
        default=None,
        metavar="FILE",
        help="an eye-tracker recording (Pupil, Tobii, generic CSV, "
        "a Neon folder); with --text: the named thing looked at",
    )
    p.add_argument(
        "--union",
        action="store_true",
        help="with --text and --gaze: segment what the text finds and what the gaze finds separately "
        "(the older behaviour) instead of the one thing that is both",
    )
    p.add_argument(
        "--gaze-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a gaze reader or prompt option, value as JSON, e.g. scene_size=[720,1280], "
        "format=pupil_core, crop=[0,0,640,480], negatives=true; repeatable",
    )
    p.add_argument("--mask", default=None, metavar="PRIOR.png", help="a prior mask at the image size to refine")
    p.add_argument("--multimask", action="store_true", help="three candidate masks per prompt instead of one")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write mask_N.png, masks.json (COCO RLE) and overlay.png here (atomically: all or nothing; "
        "masks of an earlier run that this one did not write are removed)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")


def _check_out_dir(out: str | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    return path


def main(args: argparse.Namespace) -> int:
    from .. import image_io, shared_engine
    from ..adapters.outputs.exports import export_masks
    from ..adapters.prompts.request import parse_box, parse_option, parse_point, prompts_from_request
    from ..image_io import load_image
    from ..visualize import overlay

    out_dir = _check_out_dir(args.out)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    image = load_image(args.image)
    timings["load"] = (time.perf_counter() - t0) * 1000
    parsed = [parse_point(p) for p in args.point]
    boxes = [parse_box(b) for b in args.box]
    if args.union and (args.text is None or args.gaze is None):
        raise InputError("--union keeps --text and --gaze apart; it needs both")
    gaze_options = dict(parse_option(o) for o in args.gaze_option)
    if gaze_options and args.gaze is None:
        raise InputError("--gaze-option needs --gaze FILE")
    mask = None
    if args.mask is not None:
        from ..adapters.prompts.masks import read_mask

        mask = read_mask(args.mask)
    t1 = time.perf_counter()
    engine = shared_engine(args.engine, device=args.device)
    timings["engine_load"] = (time.perf_counter() - t1) * 1000
    prompts = prompts_from_request(
        image,
        points=[(x, y) for x, y, _ in parsed] or None,
        labels=[lab for _, _, lab in parsed] or None,
        boxes=boxes or None,
        text=args.text,
        gaze=args.gaze,
        fuse=not args.union,
        mask=mask,
        engine=engine,
        gaze_options=gaze_options,
    )
    before = engine.stats
    t2 = time.perf_counter()
    result = engine.segment(image, prompts, multimask=args.multimask)
    after = engine.stats
    timings["embed"] = after.embed_ms - before.embed_ms
    timings["decode"] = after.decode_ms - before.decode_ms
    timings["segment"] = (time.perf_counter() - t2) * 1000

    rows: list[dict[str, Any]] = result.summary()
    if out_dir is not None:
        # Everything goes into a staging folder first and is renamed into place at the end: a
        # failure leaves --out as it was, and masks of an earlier run that this one did not
        # write are removed (they are listed in the folder's manifest).
        from ..security.atomic import staged_output

        with staged_output(out_dir, what=f"sam-compose segment {args.image}") as tmpd:
            export_masks(result, tmpd, format="png")
            export_masks(result, tmpd / "masks.json", format="coco", file_name=str(args.image))
            points = [(x, y, lab) for x, y, lab in parsed]
            image_io.save_png(tmpd / "overlay.png", overlay(image, result, points=points, scores=True))
        for i, row in enumerate(rows):
            row["path"] = str(out_dir / f"mask_{i}.png")
    else:
        for row in rows:
            row["path"] = None
    timings["total"] = (time.perf_counter() - t0) * 1000
    doc = {
        "image": str(args.image),
        "engine": engine.spec,
        "size": [int(image.shape[0]), int(image.shape[1])],
        "masks": rows,
        "prompts": [p.to_dict() for p in result.prompts],
        "timings_ms": {k: round(v, 2) for k, v in timings.items()},
    }
    if out_dir is not None:
        doc["overlay"] = str(out_dir / "overlay.png")
        doc["coco"] = str(out_dir / "masks.json")
    json.dump(doc, sys.stdout)
    sys.stdout.write("\n")
    return 0
