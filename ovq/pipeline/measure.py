"""What the benchmark stage measures beside its interleaved run: the benchmark matrix and the peer runtimes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovq.benchmarking.engine import BenchmarkResult
from ovq.benchmarking.inputs import random_inputs
from ovq.benchmarking.protocol import Extension
from ovq.config.benchmark_stage import BenchmarkStage
from ovq.config.stages import QuantizeStage

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext


#: The extra rounds' default wall-time cap, as a share of the first rounds' planned time.
EXTENSION_SHARE = 0.25


def stage_extension(stage: BenchmarkStage, planned_s: float, pairs: list[tuple[str, str]] | None = None) -> Extension:
    """How far a benchmark stage may go on measuring while a comparison is undecided (see BenchmarkStage).

    By default the extra rounds may take a quarter of the first rounds' planned time: the default protocol
    stays within 1.3x the time of one long run per variant (tests/perf/noise_robustness.py), and a machine
    too noisy to decide in that time gets an honest "undecided" (``decide_time_s`` buys more).
    """
    return Extension(
        max_repeats=stage.max_repeats or max(3 * stage.repeats, 6),
        time_cap_s=stage.decide_time_s or EXTENSION_SHARE * planned_s,
        pairs=tuple(pairs) if pairs is not None else None,
    )


def measure_matrix(ctx: RunContext, stage: BenchmarkStage, duration: float | None) -> dict[str, Any]:
    """Every variant in every cell of the matrix (reshaped, compiled with the cell's settings), interleaved."""
    from ovq.benchmarking.matrix import benchmark_matrix, check_cells, matrix_cells
    from ovq.pipeline.stages.compile import compile_options
    from ovq.runtime.convert import read_model_file

    matrix = stage.matrix
    assert matrix is not None and ctx.deployment is not None  # the config guarantees a compile stage first
    deployment = ctx.deployment
    cells = matrix_cells(
        # A dimension left out keeps the deployment's (compile stage's) or this stage's setting.
        hint=matrix.hint or [deployment.hint],
        batch=matrix.batch,
        num_streams=matrix.num_streams or [deployment.num_streams],
        num_requests=matrix.num_requests or [stage.num_requests],
        input_shapes=list(matrix.input_shapes) if matrix.input_shapes else None,
    )
    where = f"stages[{ctx.stage_index}] (benchmark).matrix"
    models = {name: read_model_file(variant.model_path) for name, variant in ctx.variants.items()}
    check_cells(models[ctx.reference.name], cells, where=where)  # a config error before anything is compiled
    options = {name: compile_options(variant, deployment) for name, variant in ctx.variants.items()}
    dataset = [item[0] for item in ctx.dataset(stage.dataset)] if stage.dataset else None
    # matrix.duration_s replaces the stage's duration or iteration count; else the stage's limit applies.
    iterations = None if matrix.duration_s else stage.iterations
    seconds = matrix.duration_s or (None if iterations else duration)
    what = f"{iterations} iterations" if iterations else f"{seconds:g} s"
    description = f"benchmark matrix: {len(cells)} cell(s) × {len(models)} variant(s), {what} each × {stage.repeats}"
    with ctx.reporter.progress(description, 1.0) as update:
        result = benchmark_matrix(
            models,
            cells,
            reference=ctx.reference.name,
            compile_options=options,
            dataset=dataset,
            repeats=stage.repeats,
            duration_s=seconds,
            iterations=iterations,
            warmup_iterations=stage.warmup_iterations,
            api=stage.api,
            noisy_threshold=stage.noisy_threshold,
            progress=update,
            where=where,
            # Rounds may be added while a cell's comparison is undecided, for as long again as planned.
            extension=stage_extension(stage, stage.repeats * len(cells) * len(models) * (seconds or 1.0)),
            twins={
                name: str(variant.benchmark["identical_to"])
                for name, variant in ctx.variants.items()
                if variant.benchmark and variant.benchmark.get("identical_to")
            },
        )
    return {
        "reference": result.reference,
        "dimensions": {
            name: value
            for name, value in matrix.model_dump(mode="json", exclude={"duration_s"}).items()
            if value is not None
        },
        "duration_s": seconds,
        "iterations": iterations,
        "repeats": stage.repeats,
        "api": stage.api,
        "cells": [
            {"index": index, "label": cell.label(), **dataclasses.asdict(cell)} for index, cell in enumerate(cells)
        ],
        "entries": [entry.to_dict() for entry in result.entries],
    }


def measure_peers(
    ctx: RunContext, stage: BenchmarkStage, duration: float | None, reference: BenchmarkResult
) -> list[dict[str, Any]]:
    """PyTorch eager and ONNX Runtime, measured on the same input, with speed-ups against the same FP32."""
    from ovq.benchmarking.peers import baseline_variants
    from ovq.inputs.recipes import model_file_path
    from ovq.runtime.artifacts import staged_dir

    source = ctx.config.model
    module = ctx.torch_module() if source.recipe or source.factory else None
    onnx_path = model_file_path(source, ctx.base_dir) if source.onnx else None
    tflite_path = model_file_path(source, ctx.base_dir) if source.tflite else None
    calibration_name = stage.baseline_calibration or next(
        (s.dataset for s in ctx.config.stages if isinstance(s, QuantizeStage)), None
    )
    calibration = [item[0] for item in ctx.dataset(calibration_name)] if calibration_name else None
    reference_compiled = ctx.compiled(ctx.reference).compiled
    inputs = ctx.dataset(stage.dataset)[0][0] if stage.dataset else list(random_inputs(reference_compiled).values())
    # The peers' files (ONNX exports) go into this stage's own folder, so the stage cache keeps them with it.
    with (
        ctx.reporter.progress(f"measuring baselines: {', '.join(stage.baselines)}", None),
        staged_dir(ctx.stage_folder) as folder,
    ):
        measured = baseline_variants(
            inputs=inputs,
            work_dir=folder,
            module=module,
            onnx_path=onnx_path,
            tflite_path=tflite_path,
            calibration_inputs=calibration,
            kinds=stage.baselines,
            duration_s=duration,
            iterations=stage.iterations,
            repeats=stage.repeats,
            reference_size_bytes=ctx.reference.size_bytes,
        )
    for variant in measured:
        if str(variant.get("model_path", "")).startswith(str(folder)):
            variant["model_path"] = str(ctx.stage_folder / Path(variant["model_path"]).relative_to(folder))
        bench = variant.get("benchmark") or {}
        if bench.get("throughput_fps"):
            bench["speedup_vs_reference"] = bench["throughput_fps"] / reference.throughput_fps
    return measured
