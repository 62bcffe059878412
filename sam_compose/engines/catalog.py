"""The checkpoints users name, and where they live.

Hugging Face ids load through ``transformers``; Meta's original ``.pth`` files load
through our converter. ``sam-compose models`` lists, downloads and verifies them.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTS = ("points", "boxes", "masks", "text", "video")
"""What a model can be asked: point, box and mask prompts, text (concepts), video tracking."""

_PBM = ("points", "boxes", "masks")


@dataclass(frozen=True)
class KnownModel:
    """A checkpoint we know by name.

    ``family`` is one of ``sam``, ``sam_hq``, ``sam2``, ``sam3``, ``edgetam``, ``clip``;
    ``repo_id`` is the Hugging Face repository; ``size_mb`` the download size (MB, about);
    ``licence`` the weights' licence; ``supports`` a subset of :data:`SUPPORTS`;
    ``meta_filename`` the name of Meta's original checkpoint, when any.
    """

    name: str
    repo_id: str
    family: str
    size_mb: int
    meta_filename: str | None = None
    note: str = ""
    licence: str = "Apache-2.0"
    supports: tuple[str, ...] = _PBM


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("sam-vit-base", "facebook/sam-vit-base", "sam", 375, "sam_vit_b_01ec64.pth"),
    KnownModel("sam-vit-large", "facebook/sam-vit-large", "sam", 1250, "sam_vit_l_0b3195.pth"),
    KnownModel("sam-vit-huge", "facebook/sam-vit-huge", "sam", 2560, "sam_vit_h_4b8939.pth"),
    KnownModel("slimsam-77", "Zigeng/SlimSAM-uniform-77", "sam", 38, note="SlimSAM, pruned ViT-B"),
    KnownModel("sam-hq-vit-base", "syscv-community/sam-hq-vit-base", "sam_hq", 380, "sam_hq_vit_b.pth"),
    KnownModel(
        "sam2.1-hiera-tiny",
        "facebook/sam2.1-hiera-tiny",
        "sam2",
        156,
        "sam2.1_hiera_tiny.pt",
        supports=(*_PBM, "video"),
    ),
    KnownModel(
        "sam2.1-hiera-small",
        "facebook/sam2.1-hiera-small",
        "sam2",
        184,
        "sam2.1_hiera_small.pt",
        supports=(*_PBM, "video"),
    ),
    KnownModel(
        "sam2.1-hiera-base-plus",
        "facebook/sam2.1-hiera-base-plus",
        "sam2",
        324,
        "sam2.1_hiera_base_plus.pt",
        supports=(*_PBM, "video"),
    ),
    KnownModel(
        "sam2.1-hiera-large",
        "facebook/sam2.1-hiera-large",
        "sam2",
        898,
        "sam2.1_hiera_large.pt",
        supports=(*_PBM, "video"),
    ),
    KnownModel(
        "edgetam",
        "yonigozlan/EdgeTAM-hf",
        "edgetam",
        56,
        supports=(*_PBM, "video"),
        note="EdgeTAM: SAM 2 distilled for speed (the fast video tracker)",
    ),
    KnownModel(
        "sam3",
        "facebook/sam3",
        "sam3",
        3450,
        licence="SAM-License",
        supports=(*_PBM, "text", "video"),
        note="SAM 3: text and exemplar concepts, every instance (gated: accept the licence on the hub)",
    ),
    KnownModel(
        "clip-vit-b-32",
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        "clip",
        605,
        licence="MIT",
        supports=("text",),
        note="open_clip ViT-B-32 (laion2b_s34b_b79k): text prompts for any SAM engine",
    ),
)

#: Preference order when ``"auto"`` looks for a checkpoint already on this machine.
AUTO_PREFERENCE: tuple[str, ...] = (
    "sam-vit-base",
    "slimsam-77",
    "sam2.1-hiera-tiny",
    "sam2.1-hiera-small",
    "sam-hq-vit-base",
    "sam-vit-large",
    "sam2.1-hiera-base-plus",
    "sam-vit-huge",
    "sam2.1-hiera-large",
    "edgetam",
    "sam3",
)


def find_known(name: str) -> KnownModel | None:
    """Look a model up by short name, repository id or Meta checkpoint file name."""
    low = name.strip().lower()
    for m in KNOWN_MODELS:
        if low in (m.name.lower(), m.repo_id.lower()) or (m.meta_filename and low == m.meta_filename.lower()):
            return m
    return None
