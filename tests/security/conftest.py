"""Helpers of the security tests: the CLI in a subprocess under a hard memory cap.

A regression in a bomb test must fail, not take the machine down: every run that could
allocate without bound runs in a child process whose address space is capped with
``resource.setrlimit(RLIMIT_AS)`` (and whose CPU time is capped with ``RLIMIT_CPU`` as a
last resort against hangs). The caps are far above what a refused input needs and far
below what the bomb would take.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MEMORY_CAP = 1536 * 1024 * 1024
"""Address space of a capped child: the CLI needs about 0.8 GB of it (mostly libraries mapped)."""
CPU_CAP_S = 60


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]


def _cap(memory: int, cpu: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

    return apply


def run_capped(
    args: list[str],
    *,
    memory: int = MEMORY_CAP,
    cpu: int = CPU_CAP_S,
    env: dict | None = None,
    python: bool = False,
    timeout: float = 120,
) -> Result:
    """Run ``sam-compose ARGS`` (or ``python ARGS`` with ``python=True``) in a capped child."""
    cmd = [sys.executable, *args] if python else [sys.executable, "-m", "sam_compose.cli", *args]
    full_env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    full_env.update(env or {})
    r = subprocess.run(
        [str(a) for a in cmd],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(REPO),
        preexec_fn=_cap(memory, cpu),
        timeout=timeout,
    )
    return Result(r.returncode, r.stdout, r.stderr)


@pytest.fixture
def capped():
    return run_capped


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A valid small photo (a 64 x 80 synthetic scene, PNG) for commands whose other inputs are under test."""
    from PIL import Image

    from sam_compose.samples import synthetic_scene

    p = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(synthetic_scene(seed=6, size=(64, 80)).image).save(p)
    return p
