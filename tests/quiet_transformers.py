"""A module-scoped autouse fixture that silences ``transformers``' logging (load reports, warnings
about random weights) while a test module that builds tiny random models runs.

Use it with ``from quiet_transformers import quiet_transformers  # noqa: F401`` at the top of
the test module; pytest finds the fixture in the module's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    yield
    hf_logging.set_verbosity(level)
