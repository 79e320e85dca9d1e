"""MiniLM-L6: how much INT8 error the nearest-neighbour budget of issue 11 tolerates, measured.

    .venv/bin/python tests/perf/minilm_int8_floor.py [--validation 400] [--json out.json]

The budget of pipelines/minilm_optimize.yaml asks for nearest-neighbour agreement >= 0.9925 against FP32
(true f32) on 400 validation sentences: at most 3 of the 400 nearest neighbours may change. This script
measures, on the real model and data:

1. the FP32 neighbour margins (how close each sentence's second-nearest neighbour is to its nearest);
2. plain INT8 PTQ (NNCF, transformer model type, SmoothQuant) at the plugin default precision, and the
   FP32 margins of the neighbours it changes;
3. the embeddings FP32 + t * (INT8 - FP32): the largest share t of INT8's own error the budget tolerates;
4. INT8 on one kind of operation only (the rest reverted to floating point in the same quantized graph,
   ovq.compression.fq_revert): which operations can be INT8 at all, and at what INT8 share of compute;
5. weight-only INT8 with and without the CPU plugin's dynamic quantization of activations.

It has no goal: it prints what bounds any INT8 deployment of this model under this budget and exits 0.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# Operation kinds of a BERT layer, by the names torch export gives MiniLM's MatMuls.
OPERATION_KINDS = {
    "query/key/value projections": r"attention\.self\.(query|key|value)/",
    "attention score MatMuls": r"attention\.self/aten::matmul",
    "attention output projections": r"attention\.output\.dense/",
    "FFN up-projections": r"intermediate\.dense/",
    "FFN down-projections": r"layer\.\d+\.output\.dense/",
}
MAX_CHANGED = 3  # agreement >= 0.9925 on 400 sentences


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def _similarities(embeddings: np.ndarray) -> np.ndarray:
    rows = _unit_rows(embeddings)
    similarity = rows @ rows.T
    np.fill_diagonal(similarity, -np.inf)
    return similarity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--validation", type=int, default=400)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import openvino as ov

    from ovq.compression.accuracy_control import infer_all
    from ovq.compression.fq_revert import keep_float_weights, quantized_operations, revert_operations
    from ovq.compression.ptq import quantize
    from ovq.compression.weights import compress_weights, dynamic_quantization_properties
    from ovq.inputs.recipes import find_recipe
    from ovq.runtime.convert import export_model
    from ovq.runtime.execution_precision import execution_precision_summary

    recipe = find_recipe("minilm", base_dir=ROOT)
    fp32 = export_model(recipe.build(), example_input=recipe.example_input())
    calibration = recipe.dataset("calibration")
    inputs = [item[0] for item in recipe.dataset("validation")[: args.validation]]
    core = ov.Core()

    def embed(model: Any, properties: dict[str, Any] | None = None) -> tuple[np.ndarray, float | None]:
        compiled = core.compile_model(model, "CPU", properties or {})
        outputs = np.concatenate([o[0] for o in infer_all(compiled, inputs)]).astype(np.float64)
        if not np.all(np.isfinite(outputs)):
            raise SystemExit("non-finite embeddings")
        return outputs, execution_precision_summary(compiled).compute_int8_share

    reference, _ = embed(fp32, {"INFERENCE_PRECISION_HINT": "f32"})
    reference_similarity = _similarities(reference)
    reference_neighbours = reference_similarity.argmax(axis=1)
    rows = np.arange(len(inputs))

    def changed(embeddings: np.ndarray) -> int:
        return int(np.sum(_similarities(embeddings).argmax(axis=1) != reference_neighbours))

    def cosine_drop(embeddings: np.ndarray) -> float:
        return float(1.0 - np.mean(np.sum(_unit_rows(embeddings) * _unit_rows(reference), axis=1)))

    numbers: dict[str, Any] = {"validation": len(inputs), "max_changed_for_goal": MAX_CHANGED}
    ordered = np.sort(reference_similarity, axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    numbers["fp32_margins_below"] = {f"{m:g}": int(np.sum(margins < m)) for m in (1e-3, 3e-3, 1e-2)}
    print(f"FP32 neighbour margins: {numbers['fp32_margins_below']} sentences below each cosine margin")

    default, _ = embed(fp32)
    numbers["default"] = {"changed": changed(default), "cosine_drop": cosine_drop(default)}
    print(f"plugin default precision: {changed(default)} changed, cosine drop {cosine_drop(default):.2e}")

    quantized = quantize(fp32, calibration, model_type="transformer", advanced_parameters=keep_float_weights())
    int8, share = embed(quantized)
    int8_neighbours = _similarities(int8).argmax(axis=1)
    flipped = int8_neighbours != reference_neighbours
    lost = reference_similarity[rows, reference_neighbours] - reference_similarity[rows, int8_neighbours]
    numbers["int8_ptq"] = {
        "changed": changed(int8),
        "cosine_drop": cosine_drop(int8),
        "int8_share": share,
        "fp32_margins_of_changed": sorted(float(x) for x in lost[flipped]),
    }
    print(
        f"plain INT8 PTQ: {changed(int8)} changed, cosine drop {cosine_drop(int8):.2e}, int8 share {share}; "
        f"FP32 margins of the changed neighbours up to {lost[flipped].max() if flipped.any() else 0:.3f}"
    )

    numbers["interpolated"] = {}
    for share_of_error in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0):
        mixed = reference + share_of_error * (int8 - reference)
        row = {"changed": changed(mixed), "cosine_drop": cosine_drop(mixed)}
        numbers["interpolated"][f"{share_of_error:g}"] = row
        print(
            f"FP32 + {share_of_error:.1f} x INT8 error: {row['changed']} changed, cosine drop {row['cosine_drop']:.2e}"
        )
    tolerated = max(
        (float(t) for t, row in numbers["interpolated"].items() if row["changed"] <= MAX_CHANGED), default=0.0
    )
    numbers["tolerated_share_of_int8_error"] = tolerated
    print(f"-> the goal tolerates at most {tolerated:g} of plain INT8 PTQ's embedding error")

    operations = sorted(quantized_operations(quantized))
    numbers["int8_only_on"] = {}
    for kind, pattern in OPERATION_KINDS.items():
        kept = [name for name in operations if re.search(pattern, name)]
        embeddings, kind_share = embed(revert_operations(quantized, [n for n in operations if n not in kept]))
        row = {"operations": len(kept), "changed": changed(embeddings), "cosine_drop": cosine_drop(embeddings),
               "int8_share": kind_share}  # fmt: skip
        numbers["int8_only_on"][kind] = row
        print(f"INT8 only on {kind} ({len(kept)}): {row['changed']} changed, cosine drop "
              f"{row['cosine_drop']:.2e}, int8 share {kind_share or 0:.2f}")  # fmt: skip

    weights = compress_weights(fp32, mode="int8_asym")
    numbers["weights_int8"] = {}
    for label, group in (("dynamic quantization at the plugin default", None), ("no dynamic quantization", 0)):
        embeddings, _ = embed(weights, dynamic_quantization_properties(group))
        numbers["weights_int8"][label] = {"changed": changed(embeddings), "cosine_drop": cosine_drop(embeddings)}
        print(f"weight-only INT8, {label}: {changed(embeddings)} changed, cosine drop {cosine_drop(embeddings):.2e}")

    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
