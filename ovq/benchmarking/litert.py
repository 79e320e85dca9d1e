"""The LiteRT baseline: a .tflite model in LiteRT (the maintained TensorFlow Lite runtime) on the CPU.

Driven the way its users drive it: one ``Interpreter`` with ``num_threads`` = usable cores (its default
XNNPACK CPU delegate included), inputs set once, ``invoke()`` called in a loop. Measured with the same
loop, warm-up and fields as the PyTorch and ONNX Runtime baselines (see ovq.benchmarking.peers).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ovq.errors import DataMismatchError, DependencyError, StageError


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise DependencyError(
            "the litert baseline needs the ai-edge-litert package, which is not installed",
            hint="pip install 'ovq[litert]' (or ai-edge-litert), or drop the litert baseline",
        ) from error
    return Interpreter


class LiteRtRunner:
    """One LiteRT ``Interpreter``, ``invoke()`` called synchronously with fixed inputs."""

    runtime = "litert"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        inputs: Any,
        *,
        num_threads: int | None = None,
        inference_precision: str = "f32",
    ) -> None:
        from ovq.benchmarking.sync_loop import usable_cores

        interpreter_class = _interpreter_class()
        self.model_path = Path(model_path)
        self.num_threads = num_threads or usable_cores()
        self.inference_precision = inference_precision
        start = time.perf_counter()
        try:
            self.interpreter = interpreter_class(model_path=str(self.model_path), num_threads=self.num_threads)
            self.interpreter.allocate_tensors()
        except Exception as error:  # LiteRT raises ValueError/RuntimeError for unreadable or unsupported models
            raise StageError(f"LiteRT could not load {self.model_path}: {error}", stage="baselines") from error
        self.compile_ms: float | None = (time.perf_counter() - start) * 1000.0
        self.first_inference_ms: float | None = None
        self._inputs = self.interpreter.get_input_details()
        self._outputs = self.interpreter.get_output_details()
        self._set_inputs(inputs)

    def _set_inputs(self, inputs: Any) -> None:
        from ovq.benchmarking.sync_loop import _as_array_list

        names = [detail["name"] for detail in self._inputs]
        if isinstance(inputs, Mapping) and set(inputs) == set(names):
            arrays = [np.asarray(inputs[name]) for name in names]
        else:
            arrays = _as_array_list(inputs)
        if len(arrays) != len(names):
            raise DataMismatchError(
                f"the TFLite model expects {len(names)} input(s) {names}, got {len(arrays)}", stage="baselines"
            )
        for detail, array in zip(self._inputs, arrays, strict=True):
            expected = [int(d) for d in detail["shape"]]
            if list(array.shape) != expected:
                raise DataMismatchError(
                    f"LiteRT input {detail['name']!r} expects shape {expected}, got {list(array.shape)}",
                    stage="baselines",
                )
            self.interpreter.set_tensor(detail["index"], np.asarray(array, dtype=detail["dtype"], order="C"))

    def infer(self, inputs: Any) -> list[np.ndarray]:
        """Run the model once on `inputs` and return its outputs (in the model's output order)."""
        self._set_inputs(inputs)
        self.interpreter.invoke()
        return [np.array(self.interpreter.get_tensor(detail["index"])) for detail in self._outputs]

    def _call(self) -> object:
        self.interpreter.invoke()
        return None

    def measure(self, *, duration_s: float | None = None, iterations: int | None = None) -> Any:
        """Measure one window (first call and warm-up happen once, on the first measurement)."""
        from ovq.benchmarking.sync_loop import _first_call_then_warm_up, _measure_loop

        if self.first_inference_ms is None:
            self.first_inference_ms = _first_call_then_warm_up(self._call)
        return _measure_loop(self._call, duration_s=duration_s, iterations=iterations)
