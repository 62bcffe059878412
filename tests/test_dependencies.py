"""The core install (no torch, no gradio, ...) and one model-loading policy."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sam_compose.engines import hub
from sam_compose.errors import MissingDependencyError, missing_dependency, require

# Block the optional packages in a fresh interpreter, as if only `pip install sam-compose` had run.
_BLOCK = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _Block())
"""
OPTIONAL = (
    "torch",
    "torchvision",
    "transformers",
    "huggingface_hub",
    "safetensors",
    "open_clip",
    "gradio",
    "langchain_core",
    "mcp",
    "pydantic",
    "ray",
    "onnxruntime",
    "onnx",
    "diffusers",
    "supervision",
)


def _core_python(code: str, *args: str) -> subprocess.CompletedProcess:
    prog = _BLOCK.format(blocked=set(OPTIONAL)) + code
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-c", prog, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )


def test_the_core_segments_a_photo_and_runs_a_graph_without_optional_packages(tmp_path):
    code = f"""
import sam_compose as sc
img = sc.load_image("sample:astronaut")
res = sc.load_engine("opencv").segment(img, sc.Prompt(box=[140, 20, 340, 250]))
assert len(res) == 1 and res.masks[0].sum() > 5000
g = sc.Graph.from_file("demos/box_segment_overlay.json")
report = g.run(out_dir={str(tmp_path)!r})
assert report.ok, report.errors
for name in {OPTIONAL!r}:
    assert name not in sys.modules, name
print("ok")
"""
    out = _core_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parametrize(
    "argv, extra",
    [
        (["demo", "--port", "0"], "demo"),
        (["mcp"], "agents"),
        (["segment", "sample:astronaut", "--engine", "facebook/sam-vit-base", "--point", "200,100"], "sam"),
        (["segment", "sample:astronaut", "--engine", "opencv", "--text", "cat"], "text"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(argv, extra):
    out = _core_python("import sys; from sam_compose.cli import main; sys.exit(main(sys.argv[1:]))", *argv)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'sam-compose[{extra}]'" in lines[0], lines


def test_require_and_missing_dependency_name_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'sam-compose\[ray\]'"):
        require("ray._surely_not_a_module", feature="Ray batches")
    err = missing_dependency(ModuleNotFoundError("No module named 'gradio'", name="gradio"), "the demo")
    assert err is not None and err.extra == "demo"
    assert missing_dependency(ModuleNotFoundError("x", name="numpy_not_optional")) is None


def test_one_device_policy_and_one_load_per_key(monkeypatch):
    assert hub.normalize_device(None) == hub.default_device()
    assert hub.normalize_device("cuda:0") == "cuda"
    monkeypatch.setenv("SAM_COMPOSE_OFFLINE", "1")
    assert hub.hub_offline()
    calls: list[str] = []

    def slow(name: str):
        def load():
            calls.append(name)
            time.sleep(0.2)
            return object()

        return load

    results: dict[int, object] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, hub.shared_model(("t", "a"), slow("a"))))
        for i in range(4)
    ]
    other = threading.Thread(target=lambda: hub.shared_model(("t", "b"), slow("b")))
    for t in [*threads, other]:
        t.start()
    for t in [*threads, other]:
        t.join()
    assert calls.count("a") == 1 and calls.count("b") == 1
    assert len({id(v) for v in results.values()}) == 1
    with pytest.raises(RuntimeError):
        hub.shared_model(("t", "c"), lambda: (_ for _ in ()).throw(RuntimeError("load failed")))
    assert hub.shared_model(("t", "c"), lambda: "second try") == "second try"  # a failure is not remembered
    hub.forget_shared_models("t")
