"""The gaze package's exceptions (a module of their own, imported by every other module).

* :class:`GazeError` (an :class:`~sam_compose.errors.InputError`): a recording or a gaze
  parameter is unusable; the message says why and how to fix it.
* :class:`NoFixationError`: nothing in the recording is a fixation that can prompt the engine.
* :class:`GazeLimitError`: a file is over a resource bound (see :mod:`.limits`).
"""

from __future__ import annotations

from ....errors import InputError, LimitError

__all__ = ["GazeError", "GazeLimitError", "NoFixationError"]


class GazeError(InputError):
    """A gaze recording or gaze parameter is unusable; the message says why and how to fix it."""


class NoFixationError(GazeError):
    """Nothing in the recording is a fixation that can prompt the engine."""


class GazeLimitError(GazeError, LimitError):
    """A gaze file is over a resource limit (line length, row count, size); the message names
    the limit and the environment variable that raises it."""
