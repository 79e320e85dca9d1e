"""Parity of ovq's benchmark with OpenVINO's own benchmark_app, on the same IRs, in alternation.

For each model and hint, ovq's engine (`ovq.cli.benchmark.run_benchmark`, the code behind
`ovq benchmark`) and the `benchmark_app` that ships with openvino run in turns, each in a fresh process
with the same IR, hint and duration; the order flips every round so neither tool always runs on a
"warmer" machine. benchmark_app's numbers come from its JSON statistics report. Printed: throughput and
median latency of both and the ratio ovq / benchmark_app per round, and the median ratio (goal:
0.95-1.05 for throughput and median latency in every case; the script exits 1 when one is outside).

Models (random weights; speed does not depend on them): a ResNet-50-shaped CNN (1x3x224x224) and a
small BERT-like encoder (4 layers, hidden 256, sequence 128, int64 input_ids + attention_mask), both in
plain torch and converted with ov.convert_model.

    .venv/bin/python tests/perf/benchmark_parity.py                # ~3.5 minutes on 2 cores
    .venv/bin/python tests/perf/benchmark_parity.py --duration 3 --rounds 3 --models cnn
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_APP = Path(sys.executable).with_name("benchmark_app")
OVQ_WORKER = (
    "import sys; from ovq.cli.benchmark import run_benchmark; "
    "run_benchmark(sys.argv[1], hint=sys.argv[2], duration_s=float(sys.argv[3]), json_path=sys.argv[4])"
)


# --------------------------------------------------------------------------------------------- models


def build_resnet50() -> Any:
    """ResNet-50 layout (bottleneck blocks 3-4-6-3), plain torch: torchvision does not import here."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, inplanes: int, planes: int, stride: int) -> None:
            super().__init__()
            width, out = planes, planes * 4
            self.conv1, self.bn1 = nn.Conv2d(inplanes, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
            self.relu = nn.ReLU(inplace=True)
            self.down: nn.Module = nn.Identity()
            if stride != 1 or inplanes != out:
                self.down = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            return self.relu(self.bn3(self.conv3(y)) + self.down(x))

    stem = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)]
    layers: list[nn.Module] = [*stem, nn.MaxPool2d(3, 2, 1)]
    inplanes = 64
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for index in range(blocks):
            layers.append(Bottleneck(inplanes, planes, stride if index == 0 else 1))
            inplanes = planes * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers).eval(), torch.randn(1, 3, 224, 224)


def build_bert_like() -> Any:
    """A BERT-style encoder written with plain ops (no fused torch fast paths), seq 128, hidden 256."""
    import torch
    from torch import nn

    hidden, heads, layers, vocab, seq = 256, 4, 4, 1000, 128

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv, self.out = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
            self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
            self.ff = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden))

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            batch, length, _ = x.shape
            q, k, v = self.qkv(x).view(batch, length, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
            scores = q @ k.transpose(-1, -2) / (hidden // heads) ** 0.5 + bias
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, hidden)
            x = self.norm1(x + self.out(context))
            return self.norm2(x + self.ff(x))

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens, self.positions = nn.Embedding(vocab, hidden), nn.Embedding(seq, hidden)
            self.layers = nn.ModuleList(Layer() for _ in range(layers))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
            x = self.tokens(input_ids) + self.positions(positions)
            bias = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
            for layer in self.layers:
                x = layer(x, bias)
            return x[:, 0]

    example = (torch.randint(0, vocab, (1, seq)), torch.ones(1, seq, dtype=torch.int64))
    return Encoder().eval(), example


MODELS = {
    "cnn": ("resnet50-shaped CNN", build_resnet50),
    "transformer": ("BERT-like encoder", build_bert_like),
}
# benchmark_app feeds image-like inputs (NCHW, 3 channels) as u8 with a conversion added to the model
# unless told otherwise; -ip f32 keeps the IR's own f32 input, which is what ovq (and the deployment) use.
BENCHMARK_APP_EXTRA = {"cnn": ["-ip", "f32"], "transformer": []}
# (model, hint) pairs measured by default: both models at the pipeline's usual hint, the transformer also
# at the latency hint (benchmark_app then uses its sync API; so does `ovq benchmark`).
DEFAULT_CASES = (("cnn", "throughput"), ("transformer", "throughput"), ("transformer", "latency"))


def export(name: str, folder: Path) -> Path:
    import openvino as ov
    import torch

    torch.manual_seed(0)
    module, example = MODELS[name][1]()
    inputs = example if isinstance(example, tuple) else (example,)
    with torch.no_grad():
        model = ov.convert_model(module, example_input=inputs)
    # Static shapes: both tools then fill random inputs themselves and run in "inference only" mode.
    model.reshape({port: list(tensor.shape) for port, tensor in zip(model.inputs, inputs, strict=True)})
    path = folder / f"{name}.xml"
    ov.save_model(model, path, compress_to_fp16=False)
    return path


# --------------------------------------------------------------------------------------------- running


def run_ovq(model: Path, hint: str, duration: float, out: Path) -> tuple[float, float]:
    """Run ovq's benchmark (the engine of `ovq benchmark`) in a fresh process, like benchmark_app."""
    json_path = out / "ovq.json"
    subprocess.run(
        [sys.executable, "-c", OVQ_WORKER, str(model), hint, str(duration), str(json_path)],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    result = json.loads(json_path.read_text())["benchmark"]
    return float(result["throughput_fps"]), float(result["latency_ms"]["median"])


def run_benchmark_app(model: Path, hint: str, duration: float, out: Path) -> tuple[float, float]:
    """Run benchmark_app in a fresh process and read its JSON statistics report."""
    folder = out / "benchmark_app"
    folder.mkdir(exist_ok=True)
    command = [
        str(BENCHMARK_APP), "-m", str(model), "-d", "CPU", "-hint", hint, "-t", f"{duration:g}",
        "-report_type", "no_counters", "-json_stats", "-report_folder", str(folder),
        *BENCHMARK_APP_EXTRA[model.stem],
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = json.loads((folder / "benchmark_report.json").read_text())["execution_results"]
    # benchmark_app writes its numbers rounded to 0.01; fine at these latencies (milliseconds).
    return float(results["throughput"]), float(results["latency (ms)"])


def tool_case(model: Path, hint: str, duration: float, rounds: int, out: Path) -> dict[str, Any]:
    """Tools in fresh processes, alternating: what a user comparing the two commands would see."""
    rows = []
    for index in range(rounds):
        # Flip the order every round so neither tool always follows the other.
        order = ("ovq", "app") if index % 2 == 0 else ("app", "ovq")
        numbers = {
            tool: (run_ovq if tool == "ovq" else run_benchmark_app)(model, hint, duration, out) for tool in order
        }
        rows.append(_row(index, order, numbers))
    return _ratios(rows)


class _DataQueue:
    """The one method of benchmark_app's input queue that its "inference only" loops call."""

    def get_next_batch_size(self) -> int:
        return 1


def engine_case(model: Path, hint: str, duration: float, rounds: int) -> dict[str, Any]:
    """Both measuring loops in one process on one compiled model, alternating short runs.

    benchmark_app's own ``Benchmark`` class (first_infer + main_loop, exactly as benchmark_app calls
    them) against ``ovq.pipeline.stages.benchmark.benchmark``. Runs of a second or two, back to back, pair up
    under the same machine load, which fresh processes several seconds apart do not on a shared machine.
    """
    import openvino as ov
    from openvino.tools.benchmark.benchmark import Benchmark

    from ovq.benchmarking.engine import benchmark
    from ovq.benchmarking.inputs import random_inputs

    compiled = ov.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": hint.upper()})
    api = "sync" if hint == "latency" else "async"
    feed = list(random_inputs(compiled).values())

    def run_app() -> tuple[float, float]:
        app = Benchmark("CPU", 0, None, duration, api, True)
        requests = app.create_infer_requests(compiled)
        for request_id in range(1 if api == "sync" else len(requests)):
            for index, array in enumerate(feed):
                requests[request_id].get_input_tensor(index).data[...] = array
        app.first_infer(requests)
        fps, median_ms, *_ = app.main_loop(requests, _DataQueue(), ov.Dimension(1), 50, False)
        return float(fps), float(median_ms)

    def run_ovq() -> tuple[float, float]:
        result = benchmark(compiled, [tuple(feed)], duration_s=duration, api=api)
        return result.throughput_fps, result.latency_ms["median"]

    rows = []
    for index in range(rounds):
        order = ("ovq", "app") if index % 2 == 0 else ("app", "ovq")
        rows.append(_row(index, order, {tool: (run_ovq if tool == "ovq" else run_app)() for tool in order}))
    return _ratios(rows)


def _row(index: int, order: tuple[str, str], numbers: dict[str, tuple[float, float]]) -> dict[str, float]:
    (ovq_fps, ovq_ms), (app_fps, app_ms) = numbers["ovq"], numbers["app"]
    print(
        f"    round {index + 1:2d} ({order[0]} first): ovq {ovq_fps:8.2f} FPS {ovq_ms:7.2f} ms | "
        f"benchmark_app {app_fps:8.2f} FPS {app_ms:7.2f} ms | "
        f"ratios {ovq_fps / app_fps:.3f} {ovq_ms / app_ms:.3f}",
        flush=True,
    )
    return {"ovq_fps": ovq_fps, "app_fps": app_fps, "ovq_ms": ovq_ms, "app_ms": app_ms}


def _ratios(rows: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "rounds": rows,
        "throughput_ratio": statistics.median(r["ovq_fps"] / r["app_fps"] for r in rows),
        "latency_ratio": statistics.median(r["ovq_ms"] / r["app_ms"] for r in rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per tool run (-t)")
    parser.add_argument("--rounds", type=int, default=3, help="tool alternations per model and hint")
    parser.add_argument("--engine-duration", type=float, default=1.5, help="seconds per in-process run")
    parser.add_argument("--engine-rounds", type=int, default=8, help="in-process alternations per case")
    parser.add_argument("--mode", choices=("tool", "engine", "both"), default="both")
    parser.add_argument("--models", nargs="*", choices=sorted(MODELS), help="default: all cases")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--workdir", type=Path, help="keep the exported IRs here and reuse them next time")
    args = parser.parse_args()
    if not BENCHMARK_APP.exists():
        print(f"benchmark_app not found at {BENCHMARK_APP}; it ships with the openvino wheel", file=sys.stderr)
        return 2
    cases = [case for case in DEFAULT_CASES if not args.models or case[0] in args.models]
    modes = ("tool", "engine") if args.mode == "both" else (args.mode,)

    started = time.perf_counter()
    print("load average at the start: " + " ".join(f"{value:.1f}" for value in os.getloadavg()))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ovq-parity-"))
    work.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    try:
        paths = {}
        for name in sorted({name for name, _ in cases}):
            paths[name] = work / f"{name}.xml"
            if not (paths[name].exists() and paths[name].with_suffix(".bin").exists()):
                t0 = time.perf_counter()
                export(name, work)
                print(f"exported {MODELS[name][0]} in {time.perf_counter() - t0:.1f} s", flush=True)
        for mode in modes:
            for name, hint in cases:
                if mode == "tool":
                    print(f"[tool] {MODELS[name][0]}, -hint {hint} -t {args.duration:g}, fresh processes:")
                    summary[f"tool {name}/{hint}"] = tool_case(paths[name], hint, args.duration, args.rounds, work)
                else:
                    label = f"{MODELS[name][0]}, hint {hint}, {args.engine_duration:g} s runs"
                    print(f"[engine] {label}, in-process:")
                    summary[f"engine {name}/{hint}"] = engine_case(
                        paths[name], hint, args.engine_duration, args.engine_rounds
                    )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print("\nmedian ratio ovq / benchmark_app (goal 0.95-1.05):")
    print(f"  {'case':<32} {'throughput':>10} {'median latency':>15}")
    for case, numbers in summary.items():
        print(f"  {case:<32} {numbers['throughput_ratio']:>10.3f} {numbers['latency_ratio']:>15.3f}")
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"total {time.perf_counter() - started:.0f} s; load average at the end {load}, {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    missed = [
        f"{case} {key} {numbers[key]:.3f}"
        for case, numbers in summary.items()
        for key in ("throughput_ratio", "latency_ratio")
        if not 0.95 <= numbers[key] <= 1.05
    ]
    if missed:
        print("GOAL MISSED (0.95-1.05): " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
