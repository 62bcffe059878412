"""SAM v1, SlimSAM and SAM-HQ on ``transformers``.

``family`` (the engine base shared with SAM 2 and the ONNX engine: coordinates, batched
decoding, embedding bookkeeping), ``variants`` (SamHQEngine), ``decoder`` / ``hq_decoder``
(the prompt decoder), ``vision`` (the one adapter that replaces a ``transformers`` forward),
``transforms`` (pre- and post-processing), ``loading`` (spec -> engine), ``meta_checkpoint``
(Meta's ``.pth`` files), ``amg`` (the automatic mask generator).
"""
