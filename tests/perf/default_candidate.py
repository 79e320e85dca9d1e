"""Issue 10's targets: INT8 must beat the plugin's default precision, and profiling must stay cheap.

Runs the shipped pipelines (stage cache off) and reads their reports; every ratio is a paired ratio of
variants benchmarked interleaved in the same run (ovq's benchmark stage):

1. ResNet-50-shaped CNN (pipelines/resnet50_compare.yaml, without its PyTorch/ONNX Runtime baselines, which
   this target does not need): INT8 >= 1.8x the default-precision variant and >= 9x true f32.
2. Every shipped pipeline: the deliverable is never slower than the default-precision variant beyond noise
   (ovq.benchmarking.verdict.slower_beyond_noise on the paired repeats), unless the report's budget block
   names the default among the faster variants the budget rejected.
3. Profiling (the benchmark stage's profile_s: compiles with PERF_COUNT and the profiled inferences) adds
   less than 10% to the pipeline's wall time.

    .venv/bin/python tests/perf/default_candidate.py [--pipelines quickstart resnet50_compare ...] [--output DIR]

Exits 1 when a target is missed. On a shared machine the numbers are noisy: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ovq.benchmarking.verdict import paired_ratios, slower_beyond_noise  # noqa: E402
from ovq.config.schema import parse_pipeline  # noqa: E402
from ovq.pipeline.runner import run_pipeline  # noqa: E402

INT8_VS_DEFAULT = 1.8
INT8_VS_F32 = 9.0
PROFILE_SHARE = 0.10
ALL_PIPELINES = sorted(p.stem for p in (ROOT / "pipelines").glob("*.yaml"))


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] load {os.getloadavg()[0]:.1f} | {message}", flush=True)


def _config(name: str) -> Any:
    path = ROOT / "pipelines" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    if name == "resnet50_compare":
        for stage in data["stages"]:
            stage.pop("baselines", None)  # ORT/PyTorch are issue 6's comparison, not this one's
    return parse_pipeline(data, source=str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--pipelines", nargs="*", default=ALL_PIPELINES, help=f"default: all ({', '.join(ALL_PIPELINES)})"
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    work = args.output or Path(tempfile.mkdtemp(prefix="ovq_default_candidate_"))
    failures: list[str] = []
    _log(f"cores={os.cpu_count()} work={work}")
    for name in args.pipelines:
        _log(f"running {name} (cache off)")
        started = time.perf_counter()
        try:
            report = run_pipeline(_config(name), output_dir=work / name, base_dir=ROOT / "pipelines", cache=False)
        except Exception as error:  # a failed pipeline (e.g. budget missed) still leaves its report
            failures.append(f"{name}: pipeline failed: {type(error).__name__}: {error}")
            _log(f"{name}: FAILED {error}")
            continue
        wall = time.perf_counter() - started
        failures += check(name, report, wall)
    print()
    if failures:
        print("MISSED:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("all targets met")
    return 0


def check(name: str, report: dict[str, Any], wall_s: float) -> list[str]:
    failures = []
    variants = {v["name"]: v for v in report["variants"] if not v.get("baseline")}
    default = next((v for v in variants.values() if v.get("role") == "default_precision"), None)
    for variant in variants.values():
        bench = variant.get("benchmark") or {}
        if bench:
            print(
                f"  {name:<28} {variant['name']:<16} {bench['throughput_fps']:>10.1f} FPS"
                f"  vs f32 {bench.get('speedup_vs_reference', float('nan')):6.2f}x"
                f"  vs default {bench.get('speedup_vs_default', float('nan')):6.2f}x"
                f"  spread {bench.get('spread', 0):.0%}{' NOISY' if bench.get('noisy') else ''}"
                f"  warnings {len(variant.get('warnings') or [])}"
            )
        for warning in variant.get("warnings") or []:
            print(f"      warning: {warning['message']}")
    if default is None:
        failures.append(f"{name}: no default-precision variant was measured")
    if name == "resnet50_compare":
        int8 = (variants.get("int8") or {}).get("benchmark") or {}
        vs_default, vs_f32 = int8.get("speedup_vs_default", 0.0), int8.get("speedup_vs_reference", 0.0)
        print(
            f"  TARGET resnet50 int8 vs default {vs_default:.2f}x (>= {INT8_VS_DEFAULT}),"
            f" vs f32 {vs_f32:.2f}x (>= {INT8_VS_F32})"
        )
        if vs_default < INT8_VS_DEFAULT:
            failures.append(f"{name}: INT8 {vs_default:.2f}x the default precision (goal >= {INT8_VS_DEFAULT}x)")
        if vs_f32 < INT8_VS_F32:
            failures.append(f"{name}: INT8 {vs_f32:.2f}x true f32 (goal >= {INT8_VS_F32}x)")
    deliverable = report.get("deliverable")
    if deliverable and default is not None and deliverable != default["name"]:
        ours, theirs = variants[deliverable]["benchmark"], default["benchmark"]
        ratios = paired_ratios(ours, theirs)
        slower = slower_beyond_noise(ratios)
        forced = default["name"] in ((report.get("budget") or {}).get("faster_over_budget") or [])
        verdict = "slower beyond noise" if slower else "not slower beyond noise"
        print(
            f"  TARGET {name}: deliverable {deliverable} vs {default['name']}: paired {ratios} -> {verdict}"
            f"{' (budget forced it: the default missed the budget)' if forced else ''}"
        )
        if slower and not forced:
            failures.append(
                f"{name}: deliverable {deliverable} is slower than {default['name']} and the budget did not force it"
            )
    elif deliverable:
        print(f"  TARGET {name}: the deliverable is the default-precision variant itself")
    else:
        print(f"  TARGET {name}: no deliverable (no budget in this pipeline)")
    profile_s = sum(float((s.get("details") or {}).get("profile_s") or 0.0) for s in report["stages"])
    share = profile_s / wall_s if wall_s else 0.0
    print(f"  TARGET {name}: profiling {profile_s:.2f} s of {wall_s:.1f} s wall = {share:.1%} (< {PROFILE_SHARE:.0%})")
    if share >= PROFILE_SHARE:
        failures.append(f"{name}: profiling took {share:.1%} of the wall time (goal < {PROFILE_SHARE:.0%})")
    return failures


if __name__ == "__main__":
    sys.exit(main())
