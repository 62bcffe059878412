"""The weight-free ``opencv`` engine, in SAM's two phases (embed once, then prompts in ms).

Modules, in the order the data flows:

* :mod:`.superpixels` -- working image and SLIC superpixels;
* :mod:`.regions` -- boundary map, colour words, region adjacency graph;
* :mod:`.hierarchy` -- the region tree (weakest boundary merged first);
* :mod:`.structure` -- the cached embedding tying these together;
* :mod:`.seeds` -- a prompt in terms of superpixels;
* :mod:`.geodesic`, :mod:`.candidates`, :mod:`.quality` -- what a click means;
* :mod:`.colour_model`, :mod:`.graphcut`, :mod:`.cut` -- region GrabCut;
* :mod:`.decode` -- one prompt -> part / object / whole;
* :mod:`.upsample` -- back to the original resolution;
* :mod:`.automatic` -- automatic masks from the tree;
* :mod:`.engine` -- :class:`OpenCVEngine`.
"""

from __future__ import annotations

from .engine import OpenCVEngine

__all__ = ["OpenCVEngine"]
