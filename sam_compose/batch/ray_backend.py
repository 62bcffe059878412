"""The Ray Data backend (``--backend ray``, extra ``sam-compose[ray]``).

The driver enumerates the items (skipping what the manifest records) into a few small
JSON-lines shard files under ``OUT/.batch/``; ``ray.data.read_text`` reads them and
``map_batches`` runs the graph in a fixed pool of actors
(``ActorPoolStrategy(size=--workers)``), each building the graph and loading its engines
once (``--gpus-per-worker`` reserves GPUs per actor). Every actor runs the same
:class:`~sam_compose.batch.item.ItemRunner` as the local backend, and the records stream
back to the driver, which writes the same manifest and COCO file, so the outputs are the
same as the local backend's.

Ray is started locally by the command unless ``RAY_ADDRESS`` names a cluster (then the
command connects to it; a cluster needs ``sam-compose`` installed on every node and the
inputs and ``--out`` on storage every node can reach). A Ray already initialised in the
calling process (Python API) is used as it is and left running.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError, require
from .inputs import Item
from .job import Job
from .local import ResultHandler, available_cpus, limit_threads

SHARDS_PER_ACTOR = 8
MAX_ATTEMPTS = 2  # an item that killed its actor this often is recorded as failed
MAX_SHARD = 1024


def import_ray() -> Any:
    """``ray`` with ``ray.data``, or MissingDependencyError naming the extra (``sam-compose[ray]``)."""
    require("ray.data", feature="the Ray backend (--backend ray)")  # ray.data also needs pyarrow and pandas
    return require("ray", feature="the Ray backend (--backend ray)")


class RayItemActor:
    """A Ray Data actor: one :class:`ItemRunner` (graph and engines loaded once) per actor.

    Ray restarts an actor that dies and retries its batch; so that an item that kills
    its actor (a crash in native code) cannot make that go on forever, the actor leaves a
    claim file per attempt under ``OUT/.batch/claims/`` and records the item as failed
    instead of running it a third time.
    """

    def __init__(self, job: dict[str, Any]) -> None:
        from .item import ItemRunner

        j = Job.from_dict(job)
        limit_threads(j.threads)
        self.runner = ItemRunner(j)
        self.claims = Path(j.out) / ".batch" / "claims"
        self.claims.mkdir(parents=True, exist_ok=True)

    def _run(self, item: dict[str, Any]) -> dict[str, Any]:
        prefix = f"{item['name']}."
        tries = sum(1 for e in os.scandir(self.claims) if e.name.startswith(prefix))
        if tries >= MAX_ATTEMPTS:
            return {
                "input": item["input"],
                "status": "failed",
                "outputs": {},
                "ms": 0.0,
                "item": item["name"],
                "index": item["index"],
                "error": f"the worker process died {tries} times running this item",
                "time": round(time.time(), 3),
            }
        claim = self.claims / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
        claim.touch()
        record = self.runner(item)
        claim.unlink(missing_ok=True)
        return record

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        records = [json.dumps(self._run(json.loads(str(text)))) for text in batch["text"]]
        return {"record": np.array(records, dtype=object)}


def write_shards(items: Iterator[Item], folder: Path, actors: int) -> int:
    """Write the items as JSON lines into shard files of ``folder`` (sized so every actor gets
    several); returns how many items. Two passes over one spooled file: memory stays flat."""
    folder.mkdir(parents=True)
    spool = folder.with_name(folder.name + ".all")
    n = 0
    with open(spool, "w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    size = max(1, min(MAX_SHARD, n // max(1, actors * SHARDS_PER_ACTOR)))
    with open(spool, encoding="utf-8") as fh:
        for shard in itertools.count():
            lines = list(itertools.islice(fh, size))
            if not lines:
                break
            (folder / f"{shard:08d}.jsonl").write_text("".join(lines), encoding="utf-8")
    spool.unlink()
    return n


def _start(ray: Any, workers: int | None) -> bool:
    """Connect to RAY_ADDRESS or start a local Ray; returns whether this call did (and must shut it down)."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    address = os.environ.get("RAY_ADDRESS")
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=available_cpus(), include_dashboard=False, **quiet)
    except Exception as exc:  # Ray raises bare Exceptions (a node that timed out, an unreachable head)
        where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray"
        reason = " ".join(str(exc).split())[:300]
        with contextlib.suppress(Exception):
            ray.shutdown()
        raise RuntimeError(
            f"could not start {where}: {reason}; try again, or start Ray yourself "
            "(`ray start --head`) and set RAY_ADDRESS"
        ) from exc
    return True


def check_gpus(have: float, per_worker: float, workers: int, *, elastic: bool) -> None:
    """Refuse (a Ray this command started) or warn about (an existing, perhaps autoscaling cluster)
    actors that need more GPUs than Ray sees: their pool would wait for them forever."""
    need = per_worker * workers
    if not per_worker or have >= need:
        return
    msg = f"--workers {workers} x --gpus-per-worker {per_worker:g} needs {need:g} GPUs but Ray sees {have:g}"
    if not elastic:
        raise InputError(f"{msg}; use fewer workers, a smaller --gpus-per-worker, or a cluster (RAY_ADDRESS)")
    warnings.warn(f"{msg}; the actors wait until the cluster has them", stacklevel=2)


def _quiet_data(ray: Any) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the batch command draws its own bar
    for attr in ("print_on_execution_start", "enable_auto_log_stats"):
        if hasattr(ctx, attr):
            setattr(ctx, attr, False)
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def run_ray(
    job: Job,
    items: Iterator[Item],
    workers: int | None,
    on_result: ResultHandler,
    scratch: Path,
    gpus_per_worker: float | None = None,
) -> None:
    """Run ``items`` on a Ray actor pool, handing each record to ``on_result`` as it arrives."""
    ray = import_ray()
    started = _start(ray, workers)
    folder = scratch / f"ray-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        _quiet_data(ray)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        gpus = float(gpus_per_worker or 0.0)
        if workers is None:
            workers = int(float(ray.cluster_resources().get("GPU", 0.0)) // gpus) if gpus else int(cpus)
        workers = max(1, workers)
        check_gpus(
            float(ray.cluster_resources().get("GPU", 0.0)),
            gpus,
            workers,
            elastic=started is False or bool(os.environ.get("RAY_ADDRESS")),
        )
        per_actor = min(1.0, cpus / workers)  # more actors than cores on a small machine: share them
        n = write_shards(items, folder, workers)
        if n == 0:
            return
        actor_job = Job.from_dict({**job.to_dict(), "threads": max(1, int(per_actor))})
        ds = ray.data.read_text(str(folder), num_cpus=0)  # reading the lists is nothing; leave the CPUs to actors
        ds = ds.map_batches(
            RayItemActor,
            fn_constructor_kwargs={"job": actor_job.to_dict()},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=per_actor,
            num_gpus=gpus or None,
        )
        for row in ds.iter_rows():
            if not on_result(json.loads(row["record"])):
                break
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if started:
            ray.shutdown()


__all__ = ["RayItemActor", "import_ray", "run_ray", "write_shards"]
