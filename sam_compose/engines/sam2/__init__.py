"""SAM 2.1 and EdgeTAM image engines on ``transformers``.

``image`` (Sam2Engine), ``checkpoint`` (Meta's ``.pt`` files converted on load), ``vision``
(the faster Hiera, FPN and memory-attention forwards; equal to the originals, tested).
The video side lives in ``adapters/outputs/tracking/sam2_video.py``.
"""
