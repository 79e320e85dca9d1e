"""The ResNet-50 table of issue 6: ovq's variants beside what a user would otherwise run.

Measures, on this machine, a ResNet-50-shaped model (models/resnet50, random seeded weights) as:

    fp32            OpenVINO, FP32 IR, inference precision f32 (the honest FP32 baseline)
    fp32_default    OpenVINO, FP32 IR, the plugin's default precision (bf16 on AMX/AVX512-BF16 CPUs)
    int8            OpenVINO, INT8 IR from ovq's quantize stage (NNCF PTQ)
    pytorch_eager   the torch module, eager, inference_mode, threads = cores (sync loop)
    ort_fp32        ONNX Runtime CPU provider, FP32 ONNX (one session, run() in a loop)
    ort_int8        ONNX Runtime quantize_static: QDQ, per-channel, u8/s8 (one session, run() loop)

OpenVINO variants use the throughput hint and ovq's benchmark engine (asynchronous requests, benchmark_app's
definitions); torch and ORT use the synchronous single-stream loop their users write (ovq.benchmarking.peers). Every
round measures every variant once in turn, so a drifting machine moves all of them; ratios are computed per
round and their median printed with the range over rounds. A report.json with all six variants is written
and rendered (report.md, report.html) with ovq's renderer.

Goals (issue 6): ovq INT8 >= 1.2x ORT static INT8, and >= 6x PyTorch eager (medians of per-round
ratios). Exits 1 when a goal is missed.

    .venv/bin/python tests/perf/resnet50_table.py [--rounds 3] [--seconds 8] [--calibration 64] [--output DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ovq.benchmarking import peers as baselines  # noqa: E402
from ovq.inputs.user_code import load_module_from_file  # noqa: E402


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per variant per round")
    parser.add_argument("--calibration", type=int, default=64, help="calibration images (both quantizers)")
    parser.add_argument("--output", type=Path, default=None, help="folder for the models and report files")
    args = parser.parse_args()

    import openvino as ov

    from ovq.benchmarking.engine import BenchmarkResult, benchmark, combine_runs
    from ovq.compression.ptq import quantize
    from ovq.report.store import write_report
    from ovq.runtime.convert import export_model
    from ovq.runtime.environment import environment
    from ovq.runtime.execution_precision import execution_precision

    recipe = load_module_from_file(ROOT / "models" / "resnet50" / "recipe.py")
    module = recipe.build()
    example = recipe.example_input()
    calibration = recipe.dataset("calibration", size=args.calibration)
    work = args.output or Path(tempfile.mkdtemp(prefix="ovq_resnet50_"))
    work.mkdir(parents=True, exist_ok=True)
    cores = baselines.usable_cores()
    _log(f"cores={cores} openvino={ov.__version__} work={work}")
    report_started = time.perf_counter()

    started = time.perf_counter()
    fp32_model = export_model(module, example_input=example)
    _log(f"export to OpenVINO: {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    int8_model = quantize(fp32_model, calibration, subset_size=args.calibration)
    _log(f"NNCF PTQ ({args.calibration} images): {time.perf_counter() - started:.1f}s")
    ov.save_model(fp32_model, work / "fp32.xml", compress_to_fp16=False)
    ov.save_model(int8_model, work / "int8.xml")

    started = time.perf_counter()
    onnx_path = baselines.export_onnx(module, example, work / "resnet50.onnx")
    ort_int8_path = baselines.quantize_onnxruntime_int8(
        onnx_path, [image for image, _ in calibration], work / "resnet50_int8.onnx"
    )
    _log(f"ONNX export + ORT quantize_static: {time.perf_counter() - started:.1f}s")

    core = ov.Core()
    throughput = {"PERFORMANCE_HINT": "THROUGHPUT"}
    compiled: dict[str, Any] = {}
    compile_ms: dict[str, float] = {}
    for name, model, extra in (
        ("fp32", fp32_model, {"INFERENCE_PRECISION_HINT": "f32"}),
        ("fp32_default", fp32_model, {}),
        ("int8", int8_model, {}),
    ):
        started = time.perf_counter()
        compiled[name] = core.compile_model(model, "CPU", {**throughput, **extra})
        compile_ms[name] = (time.perf_counter() - started) * 1000
        _log(f"{name}: executed layers by precision {execution_precision(compiled[name])}")

    torch_runner = baselines.TorchEagerRunner(module, example, num_threads=cores)
    ort_fp32 = baselines.OnnxRuntimeRunner(onnx_path, example, num_threads=cores)
    ort_int8 = baselines.OnnxRuntimeRunner(ort_int8_path, example, num_threads=cores, inference_precision="int8")
    runners = {"pytorch_eager": torch_runner, "ort_fp32": ort_fp32, "ort_int8": ort_int8}

    # Random weights: compare logits with torch FP32 (a sanity check that INT8 is not garbage, not accuracy).
    import numpy as np

    reference = torch_runner.infer(example)[0].ravel()
    for name, output in (
        ("int8", np.asarray(compiled["int8"]([example])[0])),
        ("ort_int8", ort_int8.infer(example)[0]),
        ("ort_fp32", ort_fp32.infer(example)[0]),
    ):
        flat = output.ravel()
        cosine = float(np.dot(reference, flat) / (np.linalg.norm(reference) * np.linalg.norm(flat)))
        _log(f"cosine(logits {name}, torch fp32) = {cosine:.4f}")

    ov_runs: dict[str, list[BenchmarkResult]] = {name: [] for name in compiled}
    baseline_runs: dict[str, list[baselines.Measurement]] = {name: [] for name in runners}
    measure: dict[str, Callable[[], float]] = {}
    for name, model in compiled.items():

        def run_ov(name: str = name, model: Any = model) -> float:
            result = benchmark(model, example, duration_s=args.seconds, compile_ms=compile_ms[name])
            ov_runs[name].append(result)
            return result.throughput_fps

        measure[name] = run_ov
    for name, runner in runners.items():

        def run_baseline(name: str = name, runner: baselines.Runner = runner) -> float:
            window = runner.measure(duration_s=args.seconds)
            baseline_runs[name].append(window)
            return window.throughput_fps

        measure[name] = run_baseline

    fps: dict[str, list[float]] = {name: [] for name in measure}
    for round_index in range(args.rounds):
        for name, run in measure.items():
            fps[name].append(run())
        _log(f"round {round_index + 1}: " + "  ".join(f"{n}={v[-1]:.1f}" for n, v in fps.items()))

    def ratio(a: str, b: str) -> tuple[float, float, float]:
        per_round = [x / y for x, y in zip(fps[a], fps[b], strict=True)]
        return statistics.median(per_round), min(per_round), max(per_round)

    benchmarks: dict[str, dict[str, Any]] = {}
    for name, runs in ov_runs.items():
        benchmarks[name] = combine_runs(runs).to_dict()
    for name, windows in baseline_runs.items():
        runner = runners[name]
        benchmarks[name] = baselines.summarize(
            windows,
            first_inference_ms=runner.first_inference_ms,
            compile_ms=runner.compile_ms,
            num_threads=runner.num_threads,
            inference_precision=runner.inference_precision,
        )

    print()
    print(f"ResNet-50 (1x3x224x224), {cores} cores, {args.rounds} interleaved rounds x {args.seconds:g}s")
    print(f"{'variant':<15}{'median FPS':>11}{'min':>8}{'max':>8}{'median ms':>11}{'vs fp32 (f32)':>15}")
    for name, values in fps.items():
        latency = benchmarks[name]["latency_ms"]["median"]
        print(
            f"{name:<15}{statistics.median(values):>11.1f}{min(values):>8.1f}{max(values):>8.1f}"
            f"{latency:>11.2f}{ratio(name, 'fp32')[0]:>14.2f}x"
        )
    print()
    missed: list[str] = []
    for a, b, goal in (
        ("int8", "ort_int8", 1.2),
        ("int8", "pytorch_eager", 6.0),
        ("int8", "fp32", None),
        ("fp32_default", "fp32", None),
        ("ort_int8", "ort_fp32", None),
        ("ort_fp32", "pytorch_eager", None),
    ):
        median_ratio, low, high = ratio(a, b)
        if goal is not None and median_ratio < goal:
            missed.append(f"{a} / {b} {median_ratio:.2f}x < {goal}x")
        verdict = "" if goal is None else f"  goal >= {goal}x: {'met' if median_ratio >= goal else 'MISSED'}"
        print(f"{a} / {b}: {median_ratio:.2f}x (rounds {low:.2f}-{high:.2f}){verdict}")

    sizes = {
        "fp32": (work / "fp32.xml").stat().st_size + (work / "fp32.bin").stat().st_size,
        "int8": (work / "int8.xml").stat().st_size + (work / "int8.bin").stat().st_size,
        "ort_fp32": onnx_path.stat().st_size,
        "ort_int8": ort_int8_path.stat().st_size,
        "pytorch_eager": sum(t.numel() * t.element_size() for t in module.state_dict().values()),
    }
    sizes["fp32_default"] = sizes["fp32"]
    variants = []
    for name in fps:
        is_baseline = name in runners
        bench = {**benchmarks[name], "speedup_vs_reference": ratio(name, "fp32")[0]}
        variants.append(
            {
                "name": name,
                "precision": "int8" if "int8" in name else "fp32",
                "source": None if name in ("fp32", "pytorch_eager", "ort_fp32") else "fp32",
                "model_path": None if name == "pytorch_eager" else str(work / name),
                "size_bytes": sizes[name],
                "size_ratio": sizes[name] / sizes["fp32"],
                "accuracy": None,
                "benchmark": bench,
                "execution_precision": None if is_baseline else execution_precision(compiled[name]),
                "baseline": is_baseline,
                "runtime": ("pytorch" if name == "pytorch_eager" else "onnxruntime") if is_baseline else "openvino",
            }
        )
    report = {
        "status": "succeeded",
        "pipeline": "resnet50_table (tests/perf)",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": time.perf_counter() - report_started,
        "environment": environment(),
        "stages": [],
        "variants": variants,
        "budget": None,
        "deliverable": "int8",
        "error": None,
    }
    write_report(work, report)  # validated against the report contract, renderings beside it
    print(f"\nreport: {work / 'report.html'}")
    if missed:
        print("GOAL MISSED: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
