"""A graph as a LangChain ``Runnable`` (``invoke``, ``batch``, ``stream``, LCEL ``|``).

    from langchain_core.runnables import RunnableLambda
    seg = graph.as_runnable(input="img", output="seg")        # feed an image, get Masks
    chain = RunnableLambda(load) | seg | RunnableLambda(lambda m: m.summary())
    chain.invoke("photo.jpg"); chain.batch([...]); list(seg.stream(video_path))

What ``invoke(x)`` does with ``x``:

* ``input="node"``: ``x`` is fed as that node's output (an image array, a path or a PIL
  image for an Image output, Masks, prompts, ...); the node does not run.
* ``input="node.param"``: ``x`` overrides that param for this call.
* no ``input``: ``x`` is a dict whose keys are ``"node.param"`` (param overrides) or
  ``"node"`` (fed values); ``None`` runs the graph as it is.

What comes back: with ``output="node"`` / ``"node.port"`` that value; with a list of
outputs a dict of them; without ``output`` the whole :class:`RunReport` (or its JSON
summary with ``summary=True``, handy before an LLM). A failed node raises
:class:`GraphRunError`. ``stream`` yields one result per video frame (once for an image
graph). ``batch`` runs calls concurrently in threads (graphs are thread-safe and share
the result cache and engines).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from ..errors import GraphError, require
from .runtime import run_graph, stream_graph
from .structure import GraphLike
from .validation import validate

require("langchain_core", feature="LangChain interop (Graph.as_runnable)")

from langchain_core.runnables import Runnable, RunnableConfig  # noqa: E402


class GraphRunnable(Runnable[Any, Any]):
    """Wraps a :class:`~sam_compose.graph.Graph`; see the module docstring."""

    def __init__(
        self,
        graph: GraphLike,
        *,
        input: str | None = None,
        output: str | list[str] | None = None,
        summary: bool = False,
        **run_options: Any,
    ) -> None:
        validate(graph, fed={input} if input and "." not in input else set())  # fail now, not at the first call
        self.graph = graph
        self.input = input
        self.output = output
        self.summary = summary
        self.run_options = run_options
        if input is not None and input.partition(".")[0] not in graph:
            raise GraphError(f"input {input!r} is not a node of the graph", input)
        self.name = str(graph.meta.get("name") or "sam_compose_graph")

    # ---------------------------------------------------------------- mapping
    def _arguments(self, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(feed, params) for one call."""
        if self.input is not None:
            return ({}, {self.input: value}) if "." in self.input else ({self.input: value}, {})
        if value is None:
            return {}, {}
        if not isinstance(value, Mapping):
            raise GraphError(
                "this graph runnable takes a dict of {'node.param': value} or {'node': value}; "
                f"got {type(value).__name__} (or create it with as_runnable(input='node'))"
            )
        feed: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for key, v in value.items():
            (params if "." in str(key) else feed)[str(key)] = v
        return feed, params

    def _outputs(self) -> list[str] | None:
        if self.output is None:
            return None
        return [self.output] if isinstance(self.output, str) else list(self.output)

    def _shape(self, values: Mapping[str, Any]) -> Any:
        if isinstance(self.output, str):
            return values[self.output]
        return dict(values)

    # ---------------------------------------------------------------- Runnable API
    def _invoke(self, value: Any) -> Any:
        feed, params = self._arguments(value)
        report = run_graph(
            self.graph, self._outputs(), feed=feed, params=params, raise_on_error=True, **self.run_options
        )
        if self.output is None:
            return report.to_json() if self.summary else report
        return self._shape(report["outputs"])

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """One result per frame of a video graph (a single result for an image graph)."""
        feed, params = self._arguments(input)
        outputs = self._outputs()
        for values in stream_graph(self.graph, outputs, feed=feed, params=params, **self.run_options):
            if self.output is None:
                from .report import summarize

                yield {k: summarize(v) for k, v in values.items()} if self.summary else values
            else:
                yield self._shape(values)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        """Async :meth:`stream`: frames are computed in a worker thread, one at a time."""
        import asyncio

        it = iter(self.stream(input, config, **kwargs))
        done = object()
        while True:
            item = await asyncio.to_thread(next, it, done)
            if item is done:
                return
            yield item

    def __repr__(self) -> str:
        return f"GraphRunnable({self.graph!r}, input={self.input!r}, output={self.output!r})"
