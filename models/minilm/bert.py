"""MiniLM-L6 (a 6-layer BERT encoder) in plain torch, with sentence-transformers' pooling on top.

Module and parameter names mirror Hugging Face's ``BertModel`` so the packaged ``model.safetensors`` loads
with ``strict=True``: a missing or misnamed weight is an error, not a silently random layer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn


class _Embeddings(nn.Module):
    def __init__(self, vocab_size: int, hidden: int, max_positions: int, type_vocab: int, eps: float) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        sequence_length = input_ids.shape[1]
        positions = torch.arange(sequence_length, device=input_ids.device)
        # A single segment: every token has type 0, so the type embedding is one broadcast row.
        embeddings = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)[None]
            + self.token_type_embeddings.weight[0]
        )
        return self.LayerNorm(embeddings)  # type: ignore[no-any-return]


class _SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_size = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.head_size).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        query = self._split(self.query(hidden_states))
        key = self._split(self.key(hidden_states))
        value = self._split(self.value(hidden_states))
        # Explicit MatMul-Softmax-MatMul (not scaled_dot_product_attention) keeps the classic BERT graph
        # whose attention MatMuls NNCF's transformer model type knows how to quantize.
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.head_size) + additive_mask
        context = torch.matmul(scores.softmax(dim=-1), value)
        batch, _, length, _ = context.shape
        return context.transpose(1, 2).reshape(batch, length, self.heads * self.head_size)


class _DenseResidualNorm(nn.Module):
    def __init__(self, inputs: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(inputs, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)  # type: ignore[no-any-return]


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, eps: float) -> None:
        super().__init__()
        self.self = _SelfAttention(hidden, heads)
        self.output = _DenseResidualNorm(hidden, hidden, eps)

    def forward(self, hidden_states: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(hidden_states, additive_mask), hidden_states)  # type: ignore[no-any-return]


class _Intermediate(nn.Module):
    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(x))  # type: ignore[no-any-return]


class _Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.attention = _Attention(hidden, heads, eps)
        self.intermediate = _Intermediate(hidden, intermediate)
        self.output = _DenseResidualNorm(intermediate, hidden, eps)

    def forward(self, hidden_states: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention(hidden_states, additive_mask)
        return self.output(self.intermediate(attended), attended)  # type: ignore[no-any-return]


class _Encoder(nn.Module):
    def __init__(self, layers: int, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(hidden, heads, intermediate, eps) for _ in range(layers))

    def forward(self, hidden_states: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            hidden_states = layer(hidden_states, additive_mask)
        return hidden_states


class SentenceEmbedder(nn.Module):
    """BERT encoder + attention-masked mean pooling + L2 normalisation (all-MiniLM-L6-v2's pipeline).

    ``forward(input_ids, attention_mask)`` takes int64 ``[batch, sequence]`` tensors and returns unit-length
    float32 ``[batch, hidden]`` sentence embeddings.
    """

    def __init__(self, config: dict[str, int | float]) -> None:
        super().__init__()
        hidden = int(config["hidden_size"])
        eps = float(config["layer_norm_eps"])
        self.embeddings = _Embeddings(
            int(config["vocab_size"]),
            hidden,
            int(config["max_position_embeddings"]),
            int(config["type_vocab_size"]),
            eps,
        )
        self.encoder = _Encoder(
            int(config["num_hidden_layers"]),
            hidden,
            int(config["num_attention_heads"]),
            int(config["intermediate_size"]),
            eps,
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.to(torch.float32)
        # Large negative rather than -inf: a fully padded row must not turn the softmax into NaN.
        additive_mask = (1.0 - mask)[:, None, None, :] * -10000.0
        tokens = self.encoder(self.embeddings(input_ids), additive_mask)
        summed = (tokens * mask[:, :, None]).sum(dim=1)
        pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=1)


def load_sentence_embedder(model_dir: Path) -> SentenceEmbedder:
    """Build the module from ``config.json`` and load ``model.safetensors`` (no network involved)."""
    from safetensors.torch import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    module = SentenceEmbedder(config)
    state = load_file(str(model_dir / "model.safetensors"))
    # The pooler (CLS dense layer) and the position-id buffer are not part of the sentence-embedding path.
    state = {name: tensor for name, tensor in state.items() if not name.startswith("pooler.")}
    state.pop("embeddings.position_ids", None)
    module.load_state_dict(state, strict=True)
    return module.eval()
