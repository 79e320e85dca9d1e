"""INT8 weights get the overflow handling the CPU class they run on needs (half range without VNNI)."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

import ovq
from ovq.compression.overflow import overflow_fix_for
from ovq.runtime.cpu_class import CLASSES, active_class, cpu_class
from tests import tiny_models

pytestmark = pytest.mark.cpu_class


@pytest.fixture(scope="module")
def fp32_model() -> ov.Model:
    import torch

    return ovq.export_model(tiny_models.tiny_cnn(), example_input=torch.zeros(tiny_models.INPUT_SHAPE).numpy())


def weight_levels(model: ov.Model) -> list[int]:
    """The largest |integer| of each INT8 weight constant, in graph order (NNCF stores weights as i8)."""
    return [
        int(np.max(np.abs(op.get_data().astype(np.int32))))
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Constant" and op.get_output_element_type(0) == ov.Type.i8
    ]


def test_every_class_without_vnni_needs_the_fix_and_one_such_target_decides() -> None:
    assert [c.name for c in CLASSES if overflow_fix_for([c]) == "enable"] == ["avx2", "avx512_core"]
    assert overflow_fix_for([cpu_class("amx"), cpu_class("avx2")]) == "enable"  # a mixed fleet: the weakest
    assert overflow_fix_for([cpu_class("avx512_core_vnni")]) == "disable"


def test_the_fix_halves_the_used_range_of_every_weight(fp32_model: ov.Model) -> None:
    items = tiny_models.tiny_items(16)
    full = weight_levels(ovq.quantize(fp32_model, items, subset_size=16, overflow_fix="disable"))
    half = weight_levels(ovq.quantize(fp32_model, items, subset_size=16, overflow_fix="enable"))
    assert len(full) >= 2 and len(full) == len(half)
    # Full range: each weight tensor reaches +-127. Half range: 7 bits, so two u8 x s8 products sum within int16.
    assert all(level >= 127 for level in full), full
    assert all(level <= 64 for level in half), half


def test_by_default_the_weights_fit_the_class_this_process_runs_as(fp32_model: ov.Model) -> None:
    items = tiny_models.tiny_items(16)
    default = weight_levels(ovq.quantize(fp32_model, items, subset_size=16))
    needed = weight_levels(ovq.quantize(fp32_model, items, subset_size=16, overflow_fix=overflow_fix_for()))
    assert default == needed
    assert overflow_fix_for() == ("disable" if active_class().vnni else "enable")
