"""The escalation ladder on models/digits_qat, measured: FP32, PTQ, accuracy-aware PTQ, QAT.

Prints each rung's top-1 on the validation split (in OpenVINO), its drop vs FP32 at true f32, the time
it took, and then the throughput of every variant against the true-f32 FP32 model (INFERENCE_PRECISION_HINT
f32), measured in interleaved repeats so machine drift hits all variants alike.

    .venv/bin/python tests/perf/qat_digits.py [--budget 0.01] [--seconds 3] [--repeats 3] [--skip-aa]

Goal: the QAT INT8 rung holds the budget (drop vs true-f32 FP32 <= --budget) and is faster than the
true-f32 FP32 model at every batch measured. Exits 1 when either is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=0.01, help="max top-1 drop vs FP32 (default 0.01)")
    parser.add_argument("--seconds", type=float, default=3.0, help="benchmark duration per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved benchmark repeats")
    parser.add_argument("--epochs", type=int, default=10, help="QAT epoch allowance")
    parser.add_argument("--batches", default="1,64", help="batch sizes to benchmark at (comma-separated)")
    parser.add_argument(
        "--cold-extension",
        action="store_true",
        help="also time NNCF's first-use C++ extension build, in a fresh build folder (~40 s)",
    )
    parser.add_argument("--skip-aa", action="store_true", help="skip accuracy-aware PTQ (the slowest rung)")
    args = parser.parse_args()
    if args.cold_extension:
        time_cold_extension_build()

    import nncf
    import openvino as ov

    from models.digits_qat import recipe
    from ovq.benchmarking.engine import benchmark_interleaved, speedup_table
    from ovq.compression.qat.train import train_qat
    from ovq.inputs.metrics import top1
    from ovq.runtime.convert import export_model
    from ovq.runtime.execution_precision import execution_precision_summary
    from ovq.runtime.infer import infer_outputs

    core = ov.Core()
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}
    rows: list[dict[str, Any]] = []

    def accuracy(model: ov.Model, items: list[Any], config: dict[str, str] | None = None) -> float:
        compiled = core.compile_model(model, "CPU", config or {})
        return top1(infer_outputs(compiled, items), [target for _, target in items])

    started = time.perf_counter()
    model = recipe.build()
    train, calibration, validation = (recipe.dataset(s) for s in ("train", "calibration", "validation"))
    fp32_ir = export_model(model, example_input=recipe.example_input())
    reference = accuracy(fp32_ir, validation, f32)
    rows.append({"rung": "FP32 (train+export, f32)", "top1": reference, "seconds": time.perf_counter() - started})

    started = time.perf_counter()
    ptq = nncf.quantize(fp32_ir, nncf.Dataset([x for x, _ in calibration]), subset_size=len(calibration))
    ptq_seconds = time.perf_counter() - started
    rows.append({"rung": "PTQ INT8", "top1": accuracy(ptq, validation), "seconds": ptq_seconds})

    variants: dict[str, ov.Model] = {"fp32 (f32)": fp32_ir, "fp32 (default)": fp32_ir, "ptq int8": ptq}

    def validate(compiled: ov.CompiledModel, items: Any) -> float:
        # NNCF passes a subset of the items when it ranks operations: score exactly those.
        chosen = list(items)
        return top1(infer_outputs(compiled, chosen), [target for _, target in chosen])

    if not args.skip_aa:
        started = time.perf_counter()
        aa = nncf.quantize_with_accuracy_control(
            fp32_ir,
            nncf.Dataset([x for x, _ in calibration]),
            nncf.Dataset(validation),
            validation_fn=validate,
            max_drop=args.budget,
            subset_size=len(calibration),
        )
        aa_seconds = time.perf_counter() - started
        rows.append({"rung": "accuracy-aware PTQ", "top1": accuracy(aa, validation), "seconds": aa_seconds})
        variants["aa-ptq int8"] = aa

    started = time.perf_counter()
    result = train_qat(
        model,
        train_data=train,
        validation_data=validation,
        calibration_data=calibration,
        reference=reference,
        max_drop=args.budget,
        epochs=args.epochs,
        learning_rate=3e-4,
        torch_threads=1,
    )
    qat_seconds = time.perf_counter() - started
    missed: list[str] = []
    if not result.budget_held or result.model is None:
        missed.append(f"QAT INT8 top-1 {result.value:.4f} misses the budget (drop <= {args.budget})")
    rows.append({"rung": f"QAT INT8 ({result.best_epoch} epochs)", "top1": result.value, "seconds": qat_seconds})
    if result.model is not None:
        variants["qat int8"] = result.model

    print(f"\nAccuracy ladder on models/digits_qat (budget: drop <= {args.budget:.3f}, {len(validation)} items)")
    print(f"{'rung':<28}{'top-1':>8}{'drop':>8}{'within':>8}{'seconds':>10}")
    for row in rows:
        drop = reference - row["top1"]
        within = "yes" if drop <= args.budget + 1e-9 else "no"
        print(f"{row['rung']:<28}{row['top1']:>8.4f}{drop:>8.4f}{within:>8}{row['seconds']:>10.1f}")
    print(
        f"QAT detail: prepare {result.prepare_s:.1f} s (extension build {result.extension_build_s:.1f} s),"
        f" train {sum(r.train_s for r in result.history):.1f} s,"
        f" evaluate {sum(r.evaluate_s for r in result.history):.1f} s over {len(result.history)} measurements"
    )
    for row in result.history:
        print(f"  epoch {row.epoch}: steps {row.steps:>4}  loss {row.loss or 0:.4f}  top-1 {row.metric:.4f}")

    for batch in (int(b) for b in args.batches.split(",")):
        compiled = {}
        for name, variant in variants.items():
            batched = variant.clone()
            batched.reshape({0: [batch, 1, 8, 8]})
            config = {"PERFORMANCE_HINT": "THROUGHPUT", **(f32 if name == "fp32 (f32)" else {})}
            compiled[name] = core.compile_model(batched, "CPU", config)
        results = benchmark_interleaved(compiled, repeats=args.repeats, duration_s=args.seconds)
        speedups = speedup_table(results, "fp32 (f32)")
        print(
            f"\nThroughput at batch {batch} (hint throughput, {args.repeats} interleaved repeats x"
            f" {args.seconds:.0f} s; samples/s)"
        )
        print(f"{'variant':<18}{'samples/s':>11}{'vs f32':>8}{'spread':>8}{'int8 share':>12}  compute layers")
        for name, bench in results.items():
            summary = execution_precision_summary(compiled[name])
            share = "-" if summary.compute_int8_share is None else f"{summary.compute_int8_share:.2f}"
            print(
                f"{name:<18}{bench.throughput_fps:>11.0f}{speedups[name]:>8.2f}{bench.spread:>8.2f}{share:>12}"
                f"  {summary.compute_layers}"
            )
        qat_name = next((name for name in results if name.startswith("qat")), None)
        if qat_name is not None and speedups[qat_name] <= 1.0:
            missed.append(f"batch {batch}: QAT INT8 {speedups[qat_name]:.2f}x of FP32 f32, not faster")
    if missed:
        print("GOAL MISSED: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


def time_cold_extension_build() -> None:
    """Build NNCF's extension from scratch in a subprocess (a fresh TORCH_EXTENSIONS_DIR), as a new machine does."""
    import subprocess
    import tempfile

    code = (
        "import time; from ovq.compression.qat.functions import ensure_nncf_extension; messages = [];"
        "seconds = ensure_nncf_extension(messages.append); again = ensure_nncf_extension(messages.append);"
        "print(f'{seconds:.1f} {again} {len(messages)}')"
    )
    with tempfile.TemporaryDirectory(prefix="ovq-ext-") as folder:
        env = {**os.environ, "TORCH_EXTENSIONS_DIR": folder, "PYTHONPATH": str(REPO)}
        output = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()[-3:]
    seconds, again, messages = float(output[0]), float(output[1]), int(output[2])
    print(
        f"NNCF extension, cold build: {seconds:.1f} s; second call {again:.1f} s;"
        f" messages shown: {messages} (expected 1)"
    )


if __name__ == "__main__":
    sys.exit(main())
