"""The ``onnx:DIR`` engine: files written by ``sam-compose export onnx`` run with onnxruntime.

``engine`` (OnnxSamEngine behind the Engine protocol), ``bundle`` (opening a folder: the
manifest, the model id and shapes checked, the sessions), ``manifest`` (``sam_onnx.json``,
readable without our code), ``split`` (the decoder cut at load into its image-only part and
its per-prompt part). The exporter that writes these folders is :mod:`sam_compose.deploy`.
"""
