"""The one inference loop over a dataset: every variant's outputs for evaluation, accuracy control and QAT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import openvino as ov


def infer_outputs(
    compiled: ov.CompiledModel,
    items: Sequence[Any],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """The first output of the model for each dataset item, in order.

    An item is ``(inputs, target)`` or bare inputs (ovq's dataset convention).
    """
    inputs = [item[0] if isinstance(item, tuple) else item for item in items]
    return [outputs[0] for outputs in infer_all(compiled, inputs, progress=progress, first_output_only=True)]


def infer_all(
    compiled: ov.CompiledModel,
    inputs: Sequence[Any],
    *,
    progress: Callable[[int], None] | None = None,
    first_output_only: bool = False,
) -> list[list[np.ndarray]]:
    """Every output of ``compiled`` (or only the first) for each model input, in input order.

    Several requests in flight keep all cores busy: as many as the plugin asks for. They are driven
    round-robin from this thread, without Python completion callbacks: callbacks run on OpenVINO's threads
    and need the GIL, and Python code running there can trigger garbage collection of another compiled
    model, whose destructor joins its own thread ("Resource deadlock avoided"); an AsyncInferQueue torn
    down while one waits for it can deadlock (OpenVINO PR #37073 fixes that destructor).
    A failed inference is a DataMismatchError (``ovq.runtime.ov_errors``).
    """
    from ovq.runtime.ov_errors import inference_error

    try:
        in_flight = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    except RuntimeError:  # a plugin without the property: one request is always correct
        in_flight = 1
    output_count = 1 if first_output_only else len(compiled.outputs)
    requests = [compiled.create_infer_request() for _ in range(min(in_flight, max(1, len(inputs))))]
    pending: list[int | None] = [None] * len(requests)
    results: list[list[np.ndarray]] = [[] for _ in inputs]

    def collect(slot: int) -> None:
        index = pending[slot]
        if index is not None:
            requests[slot].wait()
            # Copy: the request's output buffers are reused by its next inference.
            results[index] = [requests[slot].get_output_tensor(i).data.copy() for i in range(output_count)]
            pending[slot] = None

    try:
        for index, model_inputs in enumerate(inputs):
            slot = index % len(requests)
            collect(slot)
            requests[slot].start_async(model_inputs)
            pending[slot] = index
            if progress is not None:
                progress(index + 1)
        for slot in range(len(requests)):
            collect(slot)
    except RuntimeError as exc:
        raise inference_error(exc) from exc
    return results
