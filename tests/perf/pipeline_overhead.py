"""How much ovq's pipeline adds on top of calling OpenVINO and NNCF directly (goal: ratio <= 1.10).

Runs the digits export+quantize both ways, alternating, and prints the medians and their ratio:

    .venv/bin/python tests/perf/pipeline_overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

PIPELINE = """
name: overhead
model: {recipe: digits}
datasets:
  calibration: {split: calibration}
stages:
  - stage: export
  - stage: quantize
    dataset: calibration
    subset_size: 300
"""


def direct(out: Path) -> None:
    import nncf
    import openvino as ov
    import torch

    from models.digits import recipe

    module = recipe.build()
    model = ov.convert_model(module, example_input=torch.from_numpy(recipe.example_input()))
    model.reshape(list(recipe.example_input().shape))
    ov.save_model(model, out / "fp32.xml", compress_to_fp16=False)
    items = recipe.dataset("calibration")
    quantized = nncf.quantize(model, nncf.Dataset(items, lambda item: item[0]), subset_size=300)
    ov.save_model(quantized, out / "int8.xml")


def through_ovq(out: Path, pipeline_file: Path) -> None:
    from ovq.pipeline.runner import run_pipeline

    run_pipeline(pipeline_file, output_dir=out / "run")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from models.digits import recipe

    recipe.build()  # train/cache once so neither side pays for it
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pipeline_file = root / "overhead.yaml"
        pipeline_file.write_text(PIPELINE.replace("recipe: digits", f"recipe: {REPO / 'models/digits/recipe.py'}"))
        # One untimed round each: imports and first-call costs are not the pipeline's overhead.
        direct(root)
        through_ovq(root / "warm", pipeline_file)
        times: dict[str, list[float]] = {"direct": [], "ovq": []}
        for repeat in range(args.repeats):
            for name, fn in (
                ("direct", lambda d: direct(d)),
                ("ovq", lambda d: through_ovq(d, pipeline_file)),
            ):
                out = root / f"{name}-{repeat}"
                out.mkdir()
                started = time.perf_counter()
                fn(out)
                times[name].append(time.perf_counter() - started)
    direct_s, ovq_s = statistics.median(times["direct"]), statistics.median(times["ovq"])
    ratios = [o / d for o, d in zip(times["ovq"], times["direct"], strict=True)]
    print(
        f"direct NNCF/OpenVINO export+quantize: median {direct_s:.3f} s  runs {[round(t, 3) for t in times['direct']]}"
    )
    print(f"ovq pipeline export+quantize:         median {ovq_s:.3f} s  runs {[round(t, 3) for t in times['ovq']]}")
    print(f"overhead ratio (median of paired ratios): {statistics.median(ratios):.3f}   goal <= 1.10")


if __name__ == "__main__":
    main()
