"""Every CPU class this host can emulate: FP32 at the default, INT8 and the deliverable, per class (issue 19).

    .venv/bin/python tests/perf/targets.py [--models resnet50,minilm] [--rounds 5] [--seconds 3] [--smoke]

For each model (the ResNet-50-shaped CNN of models/resnet50, MiniLM-L6 of models/minilm) a real pipeline runs
with ``compile.targets`` = native + every class at or below this host it can emulate (one per INT8/precision
behaviour, see ovq.runtime.cpu_class.classes_to_check_below): export, INT8 PTQ (for MiniLM also weight-only
INT8), evaluate, benchmark, and a deliverable chosen per target under the budget. Then the numbers: rounds
of worker processes, one per target in rotated order (native = the same worker uncapped), each measuring
FP32 at that class's default precision, INT8 and the deliverables back to back (interleaved repeats), so a
ratio is always taken between two measurements made next to each other in time.

Goals (exit 1 on a miss):
- on every target, the deliverable is never slower beyond noise (ovq's rule: the paired ratio's 95%
  interval lies wholly below 0.95) than the uncompressed model at that class's default precision;
- the target equal to this host's own class matches native within 5%: per variant, the rounds' ratios
  capped/native (the two measured back to back in every round, their order alternating) are judged by ovq's
  protocol with a 5% margin; a miss is a difference the interval proves, or an undecided interval whose
  median itself lies outside 5%.

``--smoke`` runs the same code on a tiny CNN for one short round (the suite does, so the script cannot
rot); it checks that every emulable target was measured and judged, and prints the ratios without judging
them (a tiny model's speed says nothing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ovq.benchmarking.protocol import compare_ratios, ratio_interval  # noqa: E402
from ovq.benchmarking.targets import TargetJob, TargetVariant, measure_target  # noqa: E402
from ovq.benchmarking.verdict import paired_ratios, slower_beyond_noise  # noqa: E402
from ovq.runtime.cpu_class import NATIVE, active_class, classes_to_check_below, host_class  # noqa: E402

#: The capped run of this host's own class may differ from native by this share at most.
NATIVE_TOLERANCE = 0.05
MINILM_RECIPE = ROOT / "models" / "minilm" / "recipe.py"


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def emulable_targets() -> list[str]:
    """native, this host's class, then one class per distinct behaviour below it."""
    host = host_class()
    below = [c.name for c in classes_to_check_below(host) if c.name != host.name]
    return [NATIVE, host.name, *below]


def pipeline_config(model: str, targets: list[str], work: Path, smoke: bool) -> dict[str, Any]:
    benchmark = {"stage": "benchmark", "duration_s": 0.3 if smoke else 2.0, "repeats": 2 if smoke else 3}
    compile_stage = {"stage": "compile", "hint": "throughput", "targets": targets}
    if model == "tiny":
        from tests import tiny_models

        data = tiny_models.write_npz(work / "tiny.npz", count=32)
        return {
            "name": "targets-tiny",
            "model": {"factory": f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"},
            "datasets": {"data": {"path": str(data)}},
            "metrics": {"cosine": {"function": "cosine", "against": "reference"}},
            "budget": {"dataset": "data", "metrics": {"cosine": {"max_drop": 0.05}}},
            "stages": [
                {"stage": "export"},
                {"stage": "quantize", "name": "int8", "dataset": "data", "subset_size": 16},
                compile_stage,
                {"stage": "evaluate", "dataset": "data"},
                benchmark | {"profile": False},
            ],
        }
    if model == "resnet50":
        # Random weights and images: the budget is the cosine to FP32's logits (agreement, not accuracy).
        return {
            "name": "targets-resnet50",
            "model": {"recipe": "resnet50"},
            "datasets": {
                "calibration": {"split": "calibration", "limit": 64},
                "validation": {"split": "validation", "limit": 32},
            },
            "metrics": {"cosine": {"function": "cosine", "against": "reference"}},
            "budget": {"dataset": "validation", "metrics": {"cosine": {"max_drop": 0.02}}},
            "stages": [
                {"stage": "export"},
                {"stage": "quantize", "name": "int8", "dataset": "calibration", "subset_size": 64},
                compile_stage,
                {"stage": "evaluate", "dataset": "validation"},
                benchmark | {"profile": False},
            ],
        }
    if model == "minilm":
        return {
            "name": "targets-minilm",
            "model": {"recipe": "minilm"},
            "datasets": {
                "calibration": {"split": "calibration"},
                "validation": {"split": "validation", "limit": 300},
            },
            "metrics": {"nn_agreement": {"function": f"{MINILM_RECIPE}:nn_agreement", "against": "reference"}},
            "budget": {"dataset": "validation", "metrics": {"nn_agreement": {"max_drop": 0.01}}},
            "stages": [
                {"stage": "export"},
                {"stage": "compress_weights", "name": "int8_weights", "mode": "int8_asym"},
                {"stage": "quantize", "name": "int8", "dataset": "calibration", "model_type": "transformer",
                 "subset_size": 300},
                compile_stage,
                {"stage": "evaluate", "dataset": "validation"},
                benchmark | {"profile": False},
            ],
        }  # fmt: skip
    raise SystemExit(f"unknown model {model!r}: choose resnet50, minilm (or --smoke)")


def variants_to_time(report: dict[str, Any]) -> list[TargetVariant]:
    """FP32 at the class's default, INT8, and every target's deliverable (each once)."""
    by_name = {v["name"]: v for v in report["variants"]}
    reference = next(v for v in report["variants"] if v["precision"] == "fp32")
    at_default = {"hint": "throughput", "inference_precision": None}
    chosen = {"fp32_default": reference["model_path"], "int8": by_name["int8"]["model_path"]}
    for entry in report["targets"]:
        name = entry.get("deliverable")
        if name and by_name[name]["precision"] != "fp32":  # an uncompressed deliverable is fp32_default
            chosen[name] = by_name[name]["model_path"]
    profiling = at_default | {"extra": {"PERF_COUNT": True}}
    return [TargetVariant(name, path, at_default, profiling) for name, path in chosen.items()]


def deliverable_row(report: dict[str, Any], target: str) -> str | None:
    entry = next(e for e in report["targets"] if e["target"] == target)
    name = entry.get("deliverable")
    if name is None:
        return None
    variant = next(v for v in report["variants"] if v["name"] == name)
    return "fp32_default" if variant["precision"] == "fp32" else name


def interval(ratios: list[float]) -> tuple[float, float]:
    """ovq's own 95% interval of the typical paired ratio (ovq.benchmarking.protocol.ratio_interval)."""
    return ratio_interval(ratios)


def round_order(targets: list[str], round_index: int) -> list[str]:
    """The targets of one round: native and this host's class back to back (their order alternating), the
    block rotating with the rest, so the two runs compared for the 5% goal are always neighbours in time."""
    host = host_class().name
    pair = [NATIVE, host] if round_index % 2 == 0 else [host, NATIVE]
    units: list[list[str]] = [pair] + [[t] for t in targets if t not in (NATIVE, host)]
    shift = round_index % len(units)
    return [t for unit in units[shift:] + units[:shift] for t in unit if t in targets]


def measure_rounds(
    targets: list[str], variants: list[TargetVariant], rounds: int, seconds: float, repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """Per target, one benchmark block per variant per round; the order of the targets rotates each round."""
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    for round_index in range(rounds):
        for target in round_order(targets, round_index):
            job = TargetJob(target=target, variants=variants, evaluate=False, repeats=repeats, duration_s=seconds)
            with tempfile.TemporaryDirectory(prefix=f"ovq-perf-{target}-") as scratch:
                measured = measure_target(job, Path(scratch))
            if measured.status != "measured":
                raise SystemExit(f"target {target}: {measured.status}: {measured.reason}")
            results[target].append(measured.benchmarks)
            fps = ", ".join(f"{n} {b['throughput_fps']:.1f}" for n, b in measured.benchmarks.items())
            _log(f"round {round_index + 1} {target}: {fps}")
    return results


def judge_model(model: str, report: dict[str, Any], timed: dict[str, list[dict[str, Any]]], smoke: bool) -> list[str]:
    """Print the model's table; return the goals it missed (none are judged in smoke mode)."""
    misses: list[str] = []
    host = active_class().name
    print(f"\n== {model}; this host: {next(e for e in report['targets'] if e['target'] == NATIVE)['cpu_class']}")
    print(f"{'target':<18} {'variant':<14} {'FPS (median)':>12} {'x fp32@default':>15} {'95% interval':>16}")
    for target, blocks in timed.items():
        names = list(blocks[0])
        for name in names:
            fps = statistics.median(b[name]["throughput_fps"] for b in blocks)
            ratios = [r for b in blocks for r in paired_ratios(b[name], b["fp32_default"])]
            low, high = interval(ratios)
            print(f"{target:<18} {name:<14} {fps:12.1f} {statistics.median(ratios):15.3f} {low:7.3f}-{high:<8.3f}")
        row = deliverable_row(report, target)
        print(
            f"{target:<18} deliverable: {row} ({next(e for e in report['targets'] if e['target'] == target)['reason']})"
        )
        if row is None:
            misses.append(f"{model} {target}: no deliverable")
            continue
        ratios = [r for b in blocks for r in paired_ratios(b[row], b["fp32_default"])]
        if not smoke and slower_beyond_noise(ratios):
            misses.append(f"{model} {target}: deliverable {row} is slower beyond noise than fp32 at the default")
    if host in timed and NATIVE in timed:
        for name in timed[NATIVE][0]:
            # Each round measured the two back to back: its ratio is paired (ovq's protocol, margin 5%).
            ratios = [
                c[name]["throughput_fps"] / n[name]["throughput_fps"]
                for c, n in zip(timed[host], timed[NATIVE], strict=True)
            ]
            comparison = compare_ratios(ratios, margin=NATIVE_TOLERANCE)
            rounds = ", ".join(f"{r:.3f}" for r in ratios)
            print(f"{host} capped / native, {name}: {comparison.describe()} (rounds: {rounds})")
            # A miss: proven different beyond 5%, or not decided and the point ratio itself outside 5%.
            outside = abs(comparison.ratio - 1.0) > NATIVE_TOLERANCE
            if not smoke and (comparison.differs or (comparison.verdict == "undecided" and outside)):
                misses.append(
                    f"{model} {name}: {host} capped / native {comparison.describe()} (allowed ±{NATIVE_TOLERANCE:.0%})"
                )
    return misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50,minilm")
    parser.add_argument("--rounds", type=int, default=5, help="at least 5: a verdict needs 5 pairs")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats per worker")
    parser.add_argument("--output", type=Path, default=None, help="folder for the runs")
    parser.add_argument("--smoke", action="store_true", help="a tiny model, one short round, goals not judged")
    args = parser.parse_args()

    from ovq.pipeline.context import SilentReporter
    from ovq.pipeline.runner import run_pipeline

    models = ["tiny"] if args.smoke else [m.strip() for m in args.models.split(",") if m.strip()]
    rounds, seconds = (1, 0.3) if args.smoke else (args.rounds, args.seconds)
    targets = emulable_targets()
    work = args.output or Path(tempfile.mkdtemp(prefix="ovq_perf_targets_"))
    work.mkdir(parents=True, exist_ok=True)
    _log(f"host class {host_class().name}; targets {targets}; work {work}")
    misses: list[str] = []
    for model in models:
        started = time.perf_counter()
        config = pipeline_config(model, targets, work, args.smoke)
        report = run_pipeline(config_of(config), output_dir=work / model, base_dir=ROOT / "pipelines",
                              reporter=SilentReporter(), cache=False)  # fmt: skip
        _log(f"{model}: pipeline with {len(targets)} targets in {time.perf_counter() - started:.0f} s")
        unmeasured = [e["target"] for e in report["targets"] if e["status"] != "measured"]
        if unmeasured:
            misses.append(f"{model}: targets not measured: {unmeasured}")
        timed = measure_rounds(targets, variants_to_time(report), rounds, seconds, args.repeats)
        misses.extend(judge_model(model, report, timed, args.smoke))
    print()
    for miss in misses:
        print(f"MISSED {miss}")
    print("smoke: goals not judged" if args.smoke else ("all goals met" if not misses else f"{len(misses)} missed"))
    return 1 if misses else 0


def config_of(config: dict[str, Any]) -> Any:
    from ovq.config.schema import parse_pipeline

    return parse_pipeline(config, source="tests/perf/targets.py")


if __name__ == "__main__":
    sys.exit(main())
