"""`ovq benchmark MODEL.xml`: benchmark_app's familiar options on ovq's benchmark engine.

:func:`run_benchmark` is the plain function (read, optionally reshape, compile, benchmark, write JSON);
:func:`benchmark_cmd` is its typer command. Results can be written in ovq's shape (the report's variant
fields) and in benchmark_app's ``-json_stats`` shape (``cmd_options`` / ``configuration_setup`` /
``execution_results``, values formatted as benchmark_app formats them), so scripts written for
benchmark_app keep working.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ovq.cli.targets import TargetOption, split_targets
from ovq.errors import ConfigError, InputFileError, ModelFormatError
from ovq.runtime.artifacts import write_json_atomic

if TYPE_CHECKING:
    import openvino as ov

    from ovq.benchmarking.engine import BenchmarkResult, ProgressCallback
    from ovq.runtime.resources import ResourceUsage

MODEL_SUFFIXES = (".xml", ".onnx")


@dataclasses.dataclass
class BenchmarkCommandResult:
    """What one `ovq benchmark` run measured, with both JSON renderings."""

    model_path: Path
    device: str
    topology: str
    options: dict[str, str]
    config: dict[str, Any]
    read_ms: float
    reshape_ms: float | None
    compile_ms: float
    result: BenchmarkResult
    resources: ResourceUsage
    execution_precision: dict[str, int]
    compute_int8_share: float | None
    #: Per-layer profile summary (ovq.runtime.profile.summarize_profile) when asked for with --profile.
    profile: dict[str, Any] | None = None
    #: The model as each --target class runs it (ovq.benchmarking.targets.benchmark_on_targets), or None.
    targets: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """ovq's shape: the report's variant fields for this model, plus resources."""
        result = self.result
        size = sum(p.stat().st_size for p in (self.model_path, self.model_path.with_suffix(".bin")) if p.exists())
        return {
            "schema_version": 1,
            "model_path": str(self.model_path),
            "size_bytes": size,
            "device": self.device,
            "compile": {
                "hint": result.hint,
                "inference_precision": result.inference_precision,
                "num_requests": result.num_requests,
                "num_streams": result.num_streams,
                "num_threads": result.num_threads,
                "compile_ms": self.compile_ms,
                "properties": {key: str(value) for key, value in self.config.items()},
            },
            "benchmark": result.to_dict(),
            "execution_precision": dict(self.execution_precision),
            "compute_int8_share": self.compute_int8_share,
            "resources": self.resources.to_dict(),
            "profile": self.profile,
            "targets": self.targets,
        }

    def to_benchmark_app_dict(self) -> dict[str, Any]:
        """benchmark_app's ``benchmark_report.json`` (``-report_type no_counters -json_stats``)."""
        result = self.result
        iterations = self.options.get("-niter")
        if iterations is not None and result.api == "async":
            # benchmark_app reports the iteration count after rounding it up to whole rounds of requests.
            iterations = str(math.ceil(int(iterations) / result.num_requests) * result.num_requests)
        duration = self.options.get("-t")
        setup: dict[str, Any] = {
            "topology": self.topology,
            "target device": self.device,
            "API": result.api,
            "inference_only": True,
            "precision": "UNSPECIFIED",
            "batch size": str(result.batch_size),
            "number of iterations": str(iterations),
            "number of parallel infer requests": str(result.num_requests),
            "duration (ms)": str(_number(float(duration) * 1000) if duration else 0),
        }
        if "-nstreams" in self.options:  # benchmark_app lists streams only when they were asked for
            setup[f"number of {self.device} streams"] = str(result.num_streams)
        results = {"read model time (ms)": f"{self.read_ms:.2f}"}
        if self.reshape_ms is not None:
            results["reshape model time (ms)"] = f"{self.reshape_ms:.2f}"
        results |= {
            "compile model time (ms)": f"{self.compile_ms:.2f}",
            "first inference time (ms)": f"{result.first_inference_ms:.2f}",
            "total execution time (ms)": f"{result.duration_s * 1000:.2f}",
            "total number of iterations": str(result.count),
            "latency (ms)": f"{result.latency_ms['median']:.2f}",
            "avg latency": f"{result.latency_ms['average']:.2f}",
            "min latency": f"{result.latency_ms['min']:.2f}",
            "max latency": f"{result.latency_ms['max']:.2f}",
            "throughput": f"{result.throughput_fps:.2f}",
        }
        return {"cmd_options": dict(self.options), "configuration_setup": setup, "execution_results": results}


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


def run_benchmark(
    model_path: str | Path,
    *,
    device: str = "CPU",
    hint: str = "throughput",
    duration_s: float | None = None,
    iterations: int | None = None,
    num_requests: int | None = None,
    num_streams: int | str | None = None,
    num_threads: int | None = None,
    inference_precision: str | None = None,
    shape: str | None = None,
    api: str | None = None,
    cache_dir: str | Path | None = None,
    warmup_iterations: int = 0,
    json_path: str | Path | None = None,
    benchmark_app_json_path: str | Path | None = None,
    progress: ProgressCallback | None = None,
    profile: bool = False,
    targets: Sequence[str] | None = None,
) -> BenchmarkCommandResult:
    """Read an IR (or ONNX) file, compile it as benchmark_app would for these options, and benchmark it.

    Options mirror benchmark_app: ``hint`` throughput|tput|latency|none; ``duration_s`` (-t) and/or
    ``iterations`` (-niter), neither = 60 s; ``num_requests`` (-nireq), ``num_streams`` (-nstreams),
    ``num_threads`` (-nthreads), ``inference_precision`` (-infer_precision: f32|bf16|f16), ``shape``
    (-shape: ``[1,3,224,224]`` for every input or ``name[1,128],other[1,128]``), ``api`` (-api; by
    default sync for the latency hint, async otherwise, as benchmark_app does). Writes ovq's JSON to
    ``json_path`` and benchmark_app's to ``benchmark_app_json_path`` when given. ``profile``: afterwards,
    collect per-layer performance counters on a separate compiled model (PERF_COUNT), never the timed one.
    ``targets``: CPU classes (ovq.runtime.cpu_class) to benchmark the model as, each in an ISA-capped worker
    after the native run (three interleaved repeats of ``duration_s``, default 3 s each); see
    :func:`ovq.benchmarking.targets.benchmark_on_targets`.
    """
    from ovq.benchmarking.engine import benchmark
    from ovq.runtime.compile import compile_config, compile_for
    from ovq.runtime.execution_precision import execution_precision_summary
    from ovq.runtime.resources import measure_resources

    path = _check_model_file(Path(model_path))
    api = api or ("sync" if hint == "latency" else "async")
    if api not in ("sync", "async"):
        raise ConfigError(f"unknown api {api!r}; allowed: sync, async")
    # The same builder as the pipeline's compile stage: one option means one plugin setting everywhere.
    config_options: dict[str, Any] = {
        "hint": hint,
        "num_requests": num_requests,
        "num_streams": num_streams,
        "num_threads": num_threads,
        "inference_precision": inference_precision,
    }
    config = compile_config(**config_options)
    if targets:
        from ovq.runtime.cpu_class import cpu_class

        for name in targets:
            try:
                cpu_class(name) if name != "native" else None  # refused before the (long) native measurement
            except ValueError as error:
                raise ConfigError(str(error), hint="see `ovq --help` for this machine's class") from None
    options = _command_options(
        path, device, hint, duration_s, iterations, num_requests, num_streams, num_threads,
        inference_precision, shape, api,
    )  # fmt: skip

    import openvino as ov

    core = ov.Core()
    if cache_dir is not None:
        core.set_property({"CACHE_DIR": str(cache_dir)})
    with measure_resources() as usage:
        start = time.perf_counter()
        model = _read_model(core, path)
        read_ms = (time.perf_counter() - start) * 1000
        reshape_ms = None
        if shape:
            start = time.perf_counter()
            _reshape(model, shape)
            reshape_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        compiled = compile_for(model, config, device=device, core=core)
        compile_ms = (time.perf_counter() - start) * 1000
        result = benchmark(
            compiled,
            duration_s=duration_s,
            iterations=iterations,
            warmup_iterations=warmup_iterations,
            num_requests=num_requests,
            compile_ms=compile_ms,
            progress=progress,
            api="sync" if api == "sync" else "async",
        )
    summary = execution_precision_summary(compiled)
    profile_summary = _profile(model, config, device) if profile else None
    target_entries = None
    if targets:
        # A reshaped model (or an ONNX file) is what was measured here: the workers get it as an IR.
        source = model if shape or path.suffix != ".xml" else path
        target_entries = _on_targets(source, targets, config_options, duration_s=duration_s, iterations=iterations)
    outcome = BenchmarkCommandResult(
        model_path=path,
        device=device,
        topology=model.get_name(),
        options=options,
        config=config,
        read_ms=read_ms,
        reshape_ms=reshape_ms,
        compile_ms=compile_ms,
        result=result,
        resources=usage,
        execution_precision=summary.layers,
        compute_int8_share=summary.compute_int8_share,
        profile=profile_summary,
        targets=target_entries,
    )
    if json_path is not None:
        write_json_atomic(Path(json_path), outcome.to_dict())
    if benchmark_app_json_path is not None:
        write_json_atomic(Path(benchmark_app_json_path), outcome.to_benchmark_app_dict())
    return outcome


def _on_targets(
    source: ov.Model | Path,
    targets: Sequence[str],
    options: dict[str, Any],
    *,
    duration_s: float | None,
    iterations: int | None,
) -> list[dict[str, Any]]:
    """The model (an IR file, or a model to write as one for the workers) as each target class runs it."""
    import tempfile

    from ovq.benchmarking.targets import benchmark_on_targets

    with tempfile.TemporaryDirectory(prefix="ovq-benchmark-targets-") as scratch:
        if isinstance(source, Path):
            model_path = source
        else:
            import openvino as ov

            model_path = Path(scratch) / "model.xml"
            ov.save_model(source, model_path, compress_to_fp16=False)
        return benchmark_on_targets(model_path, targets, options, duration_s=duration_s, iterations=iterations)


def _profile(model: ov.Model, config: dict[str, Any], device: str) -> dict[str, Any]:
    """Per-layer profile of the model as benchmarked, on its own compiled model with PERF_COUNT."""
    from ovq.benchmarking.inputs import prepare_inputs
    from ovq.runtime.profile import collect_profile, compile_for_profiling, quantized_operations, summarize_profile

    started = time.perf_counter()
    compiled = compile_for_profiling(model, config, device=device)
    layers = collect_profile(compiled, prepare_inputs(compiled, None)[0])
    layers.wall_s = time.perf_counter() - started
    return summarize_profile(layers, quantized=quantized_operations(model))


def _check_model_file(path: Path) -> Path:
    if path.is_dir():
        raise InputFileError(f"{path} is a directory, not a model file", hint="give the path of an IR .xml (or .onnx)")
    if not path.is_file():
        raise InputFileError(f"model file not found: {path}", hint="give the path of an IR .xml (or .onnx) file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelFormatError(
            f"{path.name} is not an OpenVINO IR (.xml) or ONNX (.onnx) file",
            hint="export the model first: `ovq pipeline run` with an export stage, or ov.convert_model",
        )
    if path.suffix.lower() == ".xml" and not path.with_suffix(".bin").is_file():
        raise InputFileError(
            f"the IR's weights file is missing: {path.with_suffix('.bin')}",
            hint="an IR is a pair MODEL.xml + MODEL.bin in the same folder; copy both",
        )
    return path


def _read_model(core: ov.Core, path: Path) -> ov.Model:
    from ovq.runtime.ov_errors import read_error

    try:
        return core.read_model(path)
    except RuntimeError as error:
        raise read_error(error, path) from error


_SHAPE_ITEM = re.compile(r"([^\[\],]*)\[([^\]]*)\]")


def parse_shapes(shape: str) -> dict[str, str]:
    """benchmark_app's -shape: ``[1,3,224,224]`` (every input) or ``a[1,128],b[1,128]`` -> {name: shape}.

    The empty name stands for "every input".
    """
    items = {name.strip(): f"[{dims}]" for name, dims in _SHAPE_ITEM.findall(shape)}
    if not items or _SHAPE_ITEM.sub("", shape).strip(", ") != "":
        raise ConfigError(
            f"cannot parse shape {shape!r}", hint="write e.g. -shape [1,3,224,224] or -shape input_ids[1,128]"
        )
    return items


def _reshape(model: ov.Model, shape: str) -> None:
    import openvino as ov

    items = parse_shapes(shape)
    names = {name for port in model.inputs for name in port.get_names()}
    unknown = sorted(set(items) - names - {""})
    if unknown:
        raise ConfigError(f"-shape names unknown input(s) {unknown}; the model's inputs are {sorted(names)}")
    shapes: dict[Any, Any] = {}
    for port in model.inputs:
        for name, dims in items.items():
            if name == "" or name in port.get_names():
                shapes[port] = ov.PartialShape(dims)
    try:
        model.reshape(shapes)
    except RuntimeError as error:
        from ovq.runtime.convert import describe_inputs
        from ovq.runtime.ov_errors import reshape_error

        raise reshape_error(error, model_inputs=describe_inputs(model), requested=[shape]) from error


def _command_options(path: Path, device: str, hint: str, *values: Any) -> dict[str, str]:
    """The options as benchmark_app lists them under ``cmd_options`` (only the ones given)."""
    flags = ("-t", "-niter", "-nireq", "-nstreams", "-nthreads", "-infer_precision", "-shape", "-api")
    options = {"-m": str(path), "-d": device, "-hint": hint}
    given = {flag: value for flag, value in zip(flags, values, strict=True) if value is not None}
    options |= {flag: f"{value:g}" if isinstance(value, float) else str(value) for flag, value in given.items()}
    return options


# ------------------------------------------------------------------------------------------------ CLI


def benchmark_cmd(
    model: Annotated[Path, typer.Argument(help="OpenVINO IR (.xml with its .bin) or ONNX file.")],
    hint: Annotated[str, typer.Option("-hint", "--hint", help="throughput | tput | latency | none")] = "throughput",
    time_s: Annotated[
        float | None, typer.Option("-t", "--time", help="Measuring time in seconds (default 60).")
    ] = None,
    iterations: Annotated[int | None, typer.Option("-niter", "--iterations", help="Number of inferences.")] = None,
    num_requests: Annotated[
        int | None, typer.Option("-nireq", "--num-requests", help="Parallel infer requests.")
    ] = None,
    num_streams: Annotated[str | None, typer.Option("-nstreams", "--num-streams", help="CPU streams.")] = None,
    num_threads: Annotated[int | None, typer.Option("-nthreads", "--num-threads", help="CPU threads.")] = None,
    inference_precision: Annotated[
        str | None, typer.Option("-infer_precision", "--inference-precision", help="f32 | bf16 | f16")
    ] = None,
    shape: Annotated[
        str | None, typer.Option("-shape", "--shape", help="Static shapes: [1,3,224,224] or name[1,128],...")
    ] = None,
    api: Annotated[str | None, typer.Option("-api", "--api", help="sync | async (default by hint)")] = None,
    device: Annotated[str, typer.Option("-d", "--device", help="Device.")] = "CPU",
    cache_dir: Annotated[Path | None, typer.Option("-cdir", "--cache-dir", help="Model cache folder.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write ovq's JSON here.")] = None,
    app_json_out: Annotated[
        Path | None, typer.Option("--benchmark-app-json", help="Write benchmark_app's JSON statistics here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    profile: Annotated[
        bool, typer.Option("--profile", help="Also profile per layer (separate run) and say where the time goes.")
    ] = False,
    target: TargetOption = None,
) -> None:
    """Benchmark a model like OpenVINO's benchmark_app (same options, same definitions)."""
    from rich.console import Console

    from ovq.runtime.output_paths import check_output_file

    # Before the (long) measurement: a result that cannot be written, or a measurement that never ends.
    for option, path in (("--json", json_out), ("--benchmark-app-json", app_json_out)):
        if path is not None:
            check_output_file(path, option)
    if time_s is not None and not (0 < time_s < float("inf")):
        raise ConfigError(f"-t/--time must be a positive finite number of seconds, got {time_s}")
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    with Progress(
        TextColumn("benchmarking"), BarColumn(), TimeElapsedColumn(), console=console, transient=True,
        disable=quiet,
    ) as bar:  # fmt: skip
        task = bar.add_task("benchmark", total=1.0)
        outcome = run_benchmark(
            model,
            device=device,
            hint=hint,
            duration_s=time_s,
            iterations=iterations,
            num_requests=num_requests,
            num_streams=num_streams,
            num_threads=num_threads,
            inference_precision=inference_precision,
            shape=shape,
            api=api,
            cache_dir=cache_dir,
            json_path=json_out,
            benchmark_app_json_path=app_json_out,
            progress=lambda fraction: bar.update(task, completed=fraction),
            profile=profile,
            targets=split_targets(target),
        )
    for line in summary_lines(outcome):
        console.print(line, highlight=False, soft_wrap=True)
    if outcome.profile is not None:
        from ovq.report.profile_view import profile_summary_lines

        for line in profile_summary_lines(outcome.profile):
            console.print(line, highlight=False, soft_wrap=True)


def summary_lines(outcome: BenchmarkCommandResult) -> list[str]:
    """benchmark_app's closing lines (Count, Duration, Latency, Throughput) plus what ran how."""
    result = outcome.result
    latency = result.latency_ms
    precision = ", ".join(f"{name} {count}" for name, count in outcome.execution_precision.items())
    peak = outcome.resources.peak_rss_bytes
    utilisation = f"CPU utilisation: {(outcome.resources.cpu_utilisation or 0):.0%}"
    return [
        f"Compile model took {outcome.compile_ms:.2f} ms",
        f"First inference took {result.first_inference_ms:.2f} ms",
        f"Settings: hint {result.hint}, {result.num_requests} requests, {result.num_streams} streams, "
        f"{result.num_threads} threads, inference precision {result.inference_precision}, api {result.api}",
        f"Count:            {result.count} iterations",
        f"Duration:         {result.duration_s * 1000:.2f} ms",
        "Latency:",
        f"   Median:        {latency['median']:.2f} ms",
        f"   Average:       {latency['average']:.2f} ms",
        f"   Min:           {latency['min']:.2f} ms",
        f"   Max:           {latency['max']:.2f} ms",
        f"   p90 / p99:     {latency['p90']:.2f} / {latency['p99']:.2f} ms",
        f"Throughput:   {result.throughput_fps:.2f} FPS",
        f"Executed layers by precision: {precision}",
        f"Peak memory: {peak / 2**20:.0f} MiB, {utilisation}" if peak is not None else utilisation,
        *target_lines_of(outcome),
    ]


def target_lines_of(outcome: BenchmarkCommandResult) -> list[str]:
    """One line per --target class: its throughput beside this machine's, or why it has none."""
    if not outcome.targets:
        return []
    from ovq.benchmarking.targets import EMULATION_NOTE
    from ovq.runtime.cpu_class import active_class

    native = outcome.result.throughput_fps
    lines = [f"Targets (this run: {active_class().name}):"]
    for entry in outcome.targets:
        if entry["status"] != "measured":
            lines.append(f"   {entry['target']}: {entry['status'].replace('_', ' ')}: {entry['reason']}")
            continue
        fps, spread = entry["throughput_fps"], entry.get("spread")
        ratio = f", {fps / native:.2f}x this run" if native else ""
        spread_text = f" ±{spread:.0%}" if spread is not None else ""
        lines.append(
            f"   {entry['target']}: {fps:.2f} FPS{spread_text}{ratio}, median {entry['latency_median_ms']:.2f} ms,"
            f" precision {entry['inference_precision']} (emulated; no kernel above {entry['target']} ran)"
        )
    if any(entry["status"] == "measured" for entry in outcome.targets):
        lines.append(f"   {EMULATION_NOTE}")
    return lines
