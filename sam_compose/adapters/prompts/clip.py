"""CLIP through open_clip, loaded without ever waiting on the network.

:func:`load_clip` returns a :class:`ClipScorer`: an open_clip model with its image
preprocessing and tokenizer, callable as ``scorer(crops, phrases) -> (N, P)`` cosine
similarities. Specs:

* ``None``: ``$SAM_COMPOSE_CLIP`` when set, else the default ``ViT-B-32`` with the
  ``laion2b_s34b_b79k`` weights;
* ``"ViT-B-32"`` / ``"ViT-B-32:laion2b_s34b_b79k"``: an open_clip architecture and a
  pretrained tag (``pretrained=`` also takes a tag or a weights file);
* ``"hf-hub:org/repo"``: an open_clip repository already in the Hugging Face cache;
* ``"local-dir:/path"`` or a folder: ``open_clip_config.json`` plus weights, as written
  by open_clip's ``push_to_hf_hub``/``save`` helpers (see :func:`save_clip`);
* ``pretrained="random"``: random weights for any architecture (tests, plumbing).

Weights are looked up in the local caches first; when they are missing an
:class:`EngineError` says which files to download, in well under a second, instead of
letting the hub client retry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...engines.hub import normalize_device, shared_model
from ...errors import EngineError, require

__all__ = [
    "DEFAULT_CLIP_MODEL",
    "DEFAULT_CLIP_PRETRAINED",
    "DEFAULT_TEMPLATES",
    "ClipScorer",
    "load_clip",
    "save_clip",
    "shared_clip",
]

DEFAULT_CLIP_MODEL = "ViT-B-32"
DEFAULT_CLIP_PRETRAINED = "laion2b_s34b_b79k"
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a cropped photo of a {}.",
    "a close-up photo of a {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
)
"""Prompt templates (after CLIP's ImageNet prompt ensemble); embeddings are averaged."""


class ClipScorer:
    """An open_clip model as a region scorer.

    ``scorer(crops, phrases)`` -> (len(crops), len(phrases)) float32 cosine similarities
    between each crop ((h, w, 3) uint8 RGB) and each phrase (template-averaged text
    embeddings). ``logit_scale`` is the model's learned temperature (about 100 for CLIP).
    """

    def __init__(
        self,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        *,
        name: str = "custom",
        device: str = "cpu",
        batch_size: int = 32,
        templates: Sequence[str] = DEFAULT_TEMPLATES,
    ) -> None:
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.batch_size = int(batch_size)
        self.templates = tuple(templates)
        self._text_cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    @property
    def logit_scale(self) -> float:
        scale = getattr(self.model, "logit_scale", None)
        if scale is None:
            return 100.0
        value = float(scale.exp().item()) if hasattr(scale, "exp") else float(np.exp(scale))
        return min(value, 100.0)

    def encode_images(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) L2-normalised image embeddings, computed ``batch_size`` crops at a time."""
        import torch
        from PIL import Image

        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch_size):
                batch = torch.stack(
                    [self.preprocess(Image.fromarray(np.ascontiguousarray(c))) for c in crops[i : i + self.batch_size]]
                ).to(self.device)
                feats = self.model.encode_image(batch).float()
                out.append(torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
        dim = out[0].shape[1] if out else 0
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def encode_texts(self, phrases: Sequence[str], templates: Sequence[str] | None = None) -> np.ndarray:
        """(P, D) L2-normalised text embeddings, each the mean over ``templates``."""
        import torch

        templates = tuple(templates or self.templates)
        missing = [p for p in phrases if (p, templates) not in self._text_cache]
        if missing:
            texts = [t.format(p) for p in missing for t in templates]
            with torch.inference_mode():
                tokens = self.tokenizer(texts).to(self.device)
                feats = torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)
                feats = feats.reshape(len(missing), len(templates), -1).mean(dim=1)
                embeddings = torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()
            for p, f in zip(missing, embeddings):
                self._text_cache[(p, templates)] = f
        return np.stack([self._text_cache[(p, templates)] for p in phrases])

    def __call__(self, crops: Sequence[np.ndarray], phrases: Sequence[str]) -> np.ndarray:
        if not len(crops) or not len(phrases):
            return np.zeros((len(crops), len(phrases)), np.float32)
        return (self.encode_images(crops) @ self.encode_texts(phrases).T).astype(np.float32)

    def __repr__(self) -> str:
        return f"ClipScorer({self.name!r}, device={self.device!r})"


def _download_hint(name: str, tag: str, repo: str | None) -> str:
    from ...engines.catalog import KNOWN_MODELS

    known = next((m.name for m in KNOWN_MODELS if repo and m.repo_id == repo), None)
    steps = (
        f"sam-compose models download {known}"
        if known
        else f"python -c \"import open_clip; open_clip.create_model_and_transforms('{name}', pretrained='{tag}')\""
    )
    where = f" (Hugging Face repo {repo})" if repo else ""
    return (
        f"CLIP weights for {name} '{tag}'{where} are not on this machine and the model hub is not used "
        f"offline; on a machine with internet run: {steps}, then copy the Hugging Face cache "
        f"(~/.cache/huggingface) here, or set SAM_COMPOSE_CLIP=local-dir:/path/to/open_clip_folder"
    )


def _cached_hf_file(repo: str, filenames: Sequence[str]) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    for fn in filenames:
        got = try_to_load_from_cache(repo, fn)
        if isinstance(got, str) and os.path.isfile(got):
            return got
    return None


_KNOWN_REPOS = {
    ("ViT-B-32", "laion2b_s34b_b79k"): "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
    ("ViT-B-16", "laion2b_s34b_b88k"): "laion/CLIP-ViT-B-16-laion2B-s34B-b88K",
    ("ViT-L-14", "laion2b_s32b_b82k"): "laion/CLIP-ViT-L-14-laion2B-s32B-b82K",
}
"""Hub repos of common tags, checked before importing open_clip (which takes seconds)."""


def _quick_missing_check(name: str, tag: str) -> None:
    """Fail fast, without importing open_clip, when a well-known tag's weights are not cached."""
    repo = _KNOWN_REPOS.get((name, tag))
    if repo and not _cached_hf_file(repo, ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]):
        raise EngineError(_download_hint(name, tag, repo))


def _resolve_tag(name: str, tag: str) -> tuple[str, dict[str, Any]]:
    """(local weights file, pretrained cfg) for an open_clip tag, or EngineError naming the download."""
    open_clip = require("open_clip", "open_clip_torch", "text prompts (CLIP)")
    cfg = open_clip.get_pretrained_cfg(name, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(name)
        raise EngineError(
            f"open_clip has no pretrained tag {tag!r} for {name}; known tags: {', '.join(tags) or 'none'}"
        )
    if cfg.get("file"):
        return cfg["file"], cfg
    hub = cfg.get("hf_hub", "")
    repo = None
    if hub:
        # 'org/repo/' means the default file name; 'org/repo/file.bin' names the file
        repo, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        found = _cached_hf_file(repo, names)
        if found:
            return found, cfg
    url = cfg.get("url", "")
    if url:
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if local.is_file():
            return str(local), cfg
    raise EngineError(_download_hint(name, tag, repo))


def _split_spec(spec: str | None, pretrained: str | None) -> tuple[str, str | None]:
    if spec is None:
        spec = os.environ.get("SAM_COMPOSE_CLIP") or f"{DEFAULT_CLIP_MODEL}:{DEFAULT_CLIP_PRETRAINED}"
    spec = str(spec).strip()
    if not spec:
        raise EngineError("CLIP spec is empty; use e.g. 'ViT-B-32:laion2b_s34b_b79k' or 'local-dir:/path'")
    if spec.startswith(("local-dir:", "hf-hub:")):
        return spec, pretrained
    if os.path.isdir(os.path.expanduser(spec)):
        return "local-dir:" + os.path.expanduser(spec), pretrained
    if ":" in spec and pretrained is None:
        name, tag = spec.split(":", 1)
        return name, tag
    return spec, pretrained


def load_clip(
    spec: str | None = None, pretrained: str | None = None, *, device: str | None = None, batch_size: int = 32
) -> ClipScorer:
    """Load an open_clip model as a :class:`ClipScorer` (see the module docstring for specs).

    ``device`` defaults to the best available (cuda, mps, cpu). Raises :class:`EngineError`
    naming what to download when the weights are not on this machine, and
    :class:`MissingDependencyError` without open_clip_torch.
    """
    open_clip = require("open_clip", feature="text prompts (CLIP)")
    device = normalize_device(device)
    name, tag = _split_spec(spec, pretrained)
    if tag is not None and not name.startswith(("local-dir:", "hf-hub:")):
        _quick_missing_check(name, tag)
    kwargs: dict[str, Any] = {"device": device}
    if name.startswith("local-dir:"):
        folder = Path(name[len("local-dir:") :]).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise EngineError(f"{folder} is not an open_clip folder: it needs open_clip_config.json and weights")
        args: tuple[Any, ...] = ("local-dir:" + str(folder),)
    elif name.startswith("hf-hub:"):
        repo = name[len("hf-hub:") :]
        config = _cached_hf_file(repo, ["open_clip_config.json"])
        weights = config and _cached_hf_file(repo, ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
        if not config or not weights:
            raise EngineError(
                f"open_clip repo {repo} is not in the Hugging Face cache and the hub is not used offline; on a machine "
                f"with internet run: sam-compose models download {repo}"
            )
        args = ("local-dir:" + str(Path(config).parent),)
    else:
        if name not in open_clip.list_models():
            raise EngineError(
                f"unknown open_clip model {name!r}; e.g. {DEFAULT_CLIP_MODEL}, ViT-B-16, ViT-L-14 "
                "(see open_clip.list_models())"
            )
        if tag is None or tag.lower() in ("random", "none"):
            if tag is None:
                raise EngineError(
                    f"no pretrained weights named for {name}: give a tag such as "
                    f"'{name}:{DEFAULT_CLIP_PRETRAINED}' or pretrained='random' for random weights"
                )
            args = (name,)
            kwargs["pretrained"] = None
        elif os.path.isfile(os.path.expanduser(tag)):
            args = (name,)
            kwargs["pretrained"] = os.path.expanduser(tag)
        else:
            path, cfg = _resolve_tag(name, tag)
            args = (name,)
            kwargs.update(pretrained=path, force_quick_gelu=bool(cfg.get("quick_gelu", False)))
            for k_cfg, k_arg in (
                ("mean", "image_mean"),
                ("std", "image_std"),
                ("interpolation", "image_interpolation"),
                ("resize_mode", "image_resize_mode"),
            ):
                if cfg.get(k_cfg) is not None:
                    kwargs[k_arg] = cfg[k_cfg]
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(*args, **kwargs)
        tokenizer = open_clip.get_tokenizer(args[0])
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        raise EngineError(f"could not load CLIP {name}{'' if tag is None else ' ' + repr(tag)}: {exc}") from exc
    label = name if tag is None else f"{name}:{tag}"
    return ClipScorer(model, preprocess, tokenizer, name=label, device=device, batch_size=batch_size)


def shared_clip(spec: str | None = None, pretrained: str | None = None, device: str | None = None) -> ClipScorer:
    """One :class:`ClipScorer` per (spec, pretrained, device), loaded on first use. Thread-safe."""
    name, tag = _split_spec(spec, pretrained)
    device = normalize_device(device)
    return shared_model(("clip", name, str(tag), device), lambda: load_clip(name, tag, device=device))


def save_clip(scorer: ClipScorer, folder: str | os.PathLike, model_cfg: dict[str, Any]) -> Path:
    """Write ``scorer``'s model as an open_clip folder (config + safetensors) for ``local-dir:``."""
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pp = dict(getattr(scorer.model.visual, "preprocess_cfg", {}) or {})
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": pp}))
    state = {k: v.detach().contiguous() for k, v in scorer.model.state_dict().items() if isinstance(v, torch.Tensor)}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder
