"""What the compile stage checks and sets beside compiling: an "int8" variant that runs no int8 says so, and
the properties of a profiling compile (never the timed one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext, Variant


def check_int8_executes(ctx: RunContext, variant: Variant) -> None:
    """A variant named int8 whose compute layers all run in floating point says so (it is not INT8)."""
    from ovq.runtime.execution_precision import execution_precision_summary

    assert variant.compiled is not None and variant.compile_info is not None
    summary = execution_precision_summary(variant.compiled.compiled)
    # Judged on the compute-heavy layers where there are any: an int8 reorder beside f32 convolutions is not INT8.
    if summary.compute_int8_share is not None:
        executes_int8 = summary.compute_int8_share > 0
    else:
        executes_int8 = summary.layers.get("int8", 0) > 0
    variant.compile_info["executes_int8"] = executes_int8
    variant.compile_info["executed_precision"] = summary.compute_precision
    if not executes_int8:
        ctx.warn(
            f"variant {variant.name!r} executes 0% int8: every compute layer runs in"
            f" {summary.compute_precision or 'floating point'} (e.g. accuracy control reverted every quantized"
            " operation); it is not an INT8 model"
        )


def profiling_properties(variant: Variant) -> dict[str, Any]:
    """PERF_COUNT, on one stream with the threads one stream of the timed model had.

    A profile runs one request, which in the timed (throughput) model runs on one stream with its share of
    the threads; one stream is what each request sees, and compiling one graph copy instead of several
    keeps profiling cheap.
    """
    properties: dict[str, Any] = {"PERF_COUNT": True}
    info = variant.compile_info or {}
    streams, threads = info.get("num_streams"), info.get("num_threads")
    if isinstance(streams, int) and isinstance(threads, int) and streams > 1:
        properties |= {"NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(max(threads // streams, 1))}
    return properties
