"""Safe to expose: the path guard, resource limits, deadlines, atomic outputs, cleanup.

* :mod:`.paths` - :class:`PathGuard`, the one guard every server and guarded graph uses for
  every file it reads or writes; :func:`check_path_text` and :func:`check_regular_file`
  for everyone else (NUL bytes, FIFOs).
* :mod:`.limits` - every resource limit with its default and ``SAM_COMPOSE_MAX_*`` variable.
* :mod:`.deadlines` - time limits that stop the work (checkpoints between steps).
* :mod:`.templates` - ``{frame}`` output path templates, checked before formatting.
* :mod:`.atomic` - outputs written through temporary siblings; ``--out`` folders with a manifest.
* :mod:`.cleanup` - old session and call folders removed by age and count.

See docs/security.md.
"""

from __future__ import annotations

from . import limits
from .deadlines import (
    Deadline,
    DeadlineExceeded,
    checkpoint,
    deadline,
    run_with_deadline,
)
from .paths import AccessError, PathGuard, check_path_text, check_regular_file

__all__ = [
    "AccessError",
    "Deadline",
    "DeadlineExceeded",
    "PathGuard",
    "check_path_text",
    "check_regular_file",
    "checkpoint",
    "deadline",
    "limits",
    "run_with_deadline",
]
