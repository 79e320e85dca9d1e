"""The one inference loop over a dataset: every variant's outputs for evaluation, accuracy control and QAT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.errors import DataMismatchError

if TYPE_CHECKING:
    import openvino as ov


def infer_outputs(
    compiled: ov.CompiledModel,
    items: Sequence[Any],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """The first output of the model for each item, in order (several requests in flight keep all cores busy).

    Requests are driven round-robin from this thread, without Python completion callbacks: callbacks run on
    OpenVINO's threads and need the GIL, and an AsyncInferQueue torn down while one waits for it can
    deadlock (seen here once; OpenVINO PR #37073 fixes that destructor).
    """
    try:
        in_flight = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    except RuntimeError:
        in_flight = 1
    requests = [compiled.create_infer_request() for _ in range(min(in_flight, max(1, len(items))))]
    pending: list[int | None] = [None] * len(requests)
    outputs: list[np.ndarray] = [None] * len(items)  # type: ignore[list-item]

    def collect(slot: int) -> None:
        index = pending[slot]
        if index is not None:
            requests[slot].wait()
            # Copy: the request's output buffer is reused by its next inference.
            outputs[index] = requests[slot].get_output_tensor(0).data.copy()
            pending[slot] = None

    try:
        for index, item in enumerate(items):
            slot = index % len(requests)
            collect(slot)
            requests[slot].start_async(item[0] if isinstance(item, tuple) else item)
            pending[slot] = index
            if progress is not None:
                progress(index + 1)
        for slot in range(len(requests)):
            collect(slot)
    except RuntimeError as exc:
        raise DataMismatchError(f"inference failed on the dataset: {str(exc).strip().splitlines()[-1]}") from exc
    return outputs
