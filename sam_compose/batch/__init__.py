"""Dataset runs: one graph over a folder, a glob or a list of files, resumable, local or on Ray.

    import sam_compose as sc
    g = sc.Graph.from_file("demos/generate_export.yaml")
    summary = g.run_batch("photos/", "out/", workers=2)          # or backend="ray"
    summary.ok, summary.failed, summary.exit_code, summary.message

    sam-compose batch GRAPH --inputs DIR|GLOB|LIST.txt --out OUT [--workers N] [--backend local|ray] [--resume]

Writes ``OUT/manifest.jsonl`` (one line per finished item), ``OUT/annotations.json``
(COCO, every item's masks) and ``OUT/items/<name>/`` (each item's own outputs). Modules:

* :mod:`~sam_compose.batch.inputs` - folders, globs and list files streamed as items;
* :mod:`~sam_compose.batch.job` - which node is fed, which node gives the masks;
* :mod:`~sam_compose.batch.item` - one item in a worker: temporary folder, then rename;
* :mod:`~sam_compose.batch.manifest` - the append-only manifest and reading it back;
* :mod:`~sam_compose.batch.coco` - per-item COCO files and the merged annotations.json;
* :mod:`~sam_compose.batch.local` / :mod:`~sam_compose.batch.ray_backend` - the backends;
* :mod:`~sam_compose.batch.runner` - :func:`run_batch`, which ties them together.

See docs/batch.md and docs/scale.md.
"""

from __future__ import annotations

from .inputs import InputSource, Item, item_name
from .job import Job, make_job
from .manifest import ManifestState
from .runner import BACKENDS, BatchInterrupted, BatchSummary, run_batch

__all__ = [
    "BACKENDS",
    "BatchInterrupted",
    "BatchSummary",
    "InputSource",
    "Item",
    "Job",
    "ManifestState",
    "item_name",
    "make_job",
    "run_batch",
]
