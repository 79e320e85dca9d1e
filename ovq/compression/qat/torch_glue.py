"""Torch-side helpers for QAT: input conversion, batching, losses, optimizers, NNCF model inspection.

This module imports torch at import time; the other modules of ovq.compression.qat import it lazily inside their
functions so that `ovq --help` never pays for torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ovq.errors import ConfigError, DataMismatchError

LossFn = Callable[[Any, Any], torch.Tensor]
LOSSES = ("cross_entropy", "mse", "distill_mse", "distill_cosine")
#: Losses whose targets are a teacher's outputs (the FP32 model's), not labels.
DISTILLATION_LOSSES = ("distill_mse", "distill_cosine")
OPTIMIZERS = ("adam", "adamw", "sgd")


class QatSequential(nn.Sequential):
    """nn.Sequential whose forward skips NNCF's hook storage.

    NNCF registers its quantizers as a child module of the model (`__nncf_hooks`); nn.Sequential.forward
    calls every child in turn, so a top-level Sequential would call the hook storage as a layer and fail
    ("Module [HookStorage] is missing the required forward function"). Swapping the class keeps indexing,
    len() of the user's layers and state_dict keys exactly as they were.
    """

    def forward(self, input: Any) -> Any:
        from ovq.compression._nncf.torch_hooks import hook_storage_class

        storage = hook_storage_class()
        for module in self._modules.values():
            if isinstance(module, storage):
                continue
            input = module(input)
        return input


def make_hookable(module: nn.Module) -> nn.Module:
    """Make a module safe for NNCF's hook storage (in place); only a plain top-level Sequential needs it."""
    if type(module) is nn.Sequential:
        module.__class__ = QatSequential
    elif isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
        raise ConfigError(
            f"{type(module).__name__} is an nn.Sequential subclass without its own forward():"
            " NNCF's quantizers would be called as one of its layers",
            hint="give the subclass a forward() that calls its layers, or wrap it in a small nn.Module",
        )
    return module


def quantizer_count(module: nn.Module) -> int:
    """How many NNCF quantizers the module carries (0 for a module prepare_qat has not seen)."""
    from ovq.compression._nncf.torch_hooks import quantizer_count as count

    return count(module)


def model_inputs(item: Any) -> Any:
    """The model inputs of a dataset item: a tuple is always (inputs, target), anything else is inputs.

    This is ovq's dataset convention; a multi-input model's item is ((input_a, input_b), target).
    """
    return item[0] if isinstance(item, tuple) else item


def to_torch(inputs: Any) -> Any:
    """numpy arrays (or nested tuples/lists/dicts of them) -> torch tensors, as NNCF and forward() expect."""
    if isinstance(inputs, torch.Tensor):
        return inputs
    if isinstance(inputs, np.ndarray):
        return torch.from_numpy(np.asarray(inputs, order="C"))
    if isinstance(inputs, dict):
        return {name: to_torch(value) for name, value in inputs.items()}
    if isinstance(inputs, list | tuple):
        return tuple(to_torch(value) for value in inputs)
    return torch.as_tensor(inputs)


def call_module(module: nn.Module, inputs: Any) -> Any:
    """Call a module the way NNCF's engine does: a dict as keywords, a tuple as positional arguments."""
    if isinstance(inputs, dict):
        return module(**inputs)
    if isinstance(inputs, tuple):
        return module(*inputs)
    return module(inputs)


def first_output(outputs: Any) -> torch.Tensor:
    """The first output of a model (the one metrics and losses look at), whatever container it comes in."""
    while isinstance(outputs, list | tuple):
        outputs = outputs[0]
    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values()))
    if not isinstance(outputs, torch.Tensor):
        raise DataMismatchError(f"the model returned {type(outputs).__name__}, not a tensor")
    return outputs


def _concat(parts: Sequence[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return {name: _concat([part[name] for part in parts]) for name in first}
    if isinstance(first, tuple):
        return tuple(_concat([part[i] for part in parts]) for i in range(len(first)))
    return torch.cat([p if p.dim() > 0 else p.reshape(1) for p in parts], dim=0)


def batches(
    items: Sequence[Any], batch_size: int, *, generator: torch.Generator | None = None
) -> Iterator[tuple[Any, torch.Tensor | None]]:
    """(inputs, targets) batches from items with a batch dimension each; shuffled when a generator is given.

    Items are concatenated along their batch dimension, so items of shape [1, ...] make batches of
    [batch_size, ...]; targets become one tensor (class indices stay integers).
    """
    order = torch.randperm(len(items), generator=generator).tolist() if generator is not None else range(len(items))
    chunk: list[int] = []
    for index in order:
        chunk.append(index)
        if len(chunk) == batch_size:
            yield _batch([items[i] for i in chunk])
            chunk = []
    if chunk:
        yield _batch([items[i] for i in chunk])


def _batch(chunk: Sequence[Any]) -> tuple[Any, torch.Tensor | None]:
    inputs = _concat([to_torch(model_inputs(item)) for item in chunk])
    raw_targets = [item[1] if isinstance(item, tuple) else None for item in chunk]
    if any(target is None for target in raw_targets):
        return inputs, None
    targets = _concat([torch.as_tensor(np.asarray(target)) for target in raw_targets])
    return inputs, targets


def item_sizes(items: Sequence[Any]) -> list[int]:
    """The batch dimension of each item's (first) input, to split batched outputs back into items."""
    sizes = []
    for item in items:
        inputs = model_inputs(item)
        while isinstance(inputs, list | tuple):
            inputs = inputs[0]
        if isinstance(inputs, dict):
            inputs = next(iter(inputs.values()))
        shape = np.shape(inputs)
        sizes.append(int(shape[0]) if shape else 1)
    return sizes


def resolve_loss(loss: str | LossFn) -> LossFn:
    """A built-in loss by name, or the user's callable(outputs, targets) -> scalar tensor."""
    if callable(loss):
        return loss
    if loss == "cross_entropy":
        return lambda outputs, targets: nn.functional.cross_entropy(outputs, targets.reshape(-1).long())
    if loss == "mse":
        return lambda outputs, targets: nn.functional.mse_loss(outputs, targets.to(outputs.dtype).view_as(outputs))
    if loss == "distill_mse":
        return lambda outputs, targets: nn.functional.mse_loss(outputs, targets.to(outputs.dtype).view_as(outputs))
    if loss == "distill_cosine":
        return _cosine_distance
    raise ConfigError(f"unknown loss {loss!r}", hint=f"use one of {', '.join(LOSSES)} or a 'package.module:function'")


def _cosine_distance(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos(output row, teacher row): what an embedding's user compares, blind to its length."""
    flat = outputs.reshape(outputs.shape[0], -1)
    teacher = targets.to(outputs.dtype).reshape(flat.shape)
    return (1.0 - nn.functional.cosine_similarity(flat, teacher, dim=1)).mean()


def teacher_targets(module: nn.Module, items: Sequence[Any], batch_size: int) -> list[tuple[Any, np.ndarray]]:
    """Items relabelled with ``module``'s own outputs: (inputs, teacher output), for distillation."""
    outputs = torch_outputs(module, items, batch_size)
    return [(model_inputs(item), output) for item, output in zip(items, outputs, strict=True)]


def freeze_parameters(module: nn.Module, patterns: Sequence[str]) -> tuple[int, int]:
    """Stop training the parameters whose names match any regular expression (re.search); (frozen, total).

    Freezing what need not move (embedding tables, LayerNorms) cuts the optimizer's state and the
    backward pass; an unmatched pattern is an error, not a silent no-op.
    """
    import re

    compiled = [(pattern, re.compile(pattern)) for pattern in patterns]
    used: set[str] = set()
    frozen = total = 0
    for name, parameter in module.named_parameters():
        total += 1
        for pattern, regex in compiled:
            if regex.search(name):
                parameter.requires_grad_(False)
                used.add(pattern)
                frozen += 1
                break
    unused = [pattern for pattern, _ in compiled if pattern not in used]
    if unused:
        raise ConfigError(
            f"freeze: {unused} match no parameter", hint="patterns are regular expressions over parameter names"
        )
    return frozen, total


def make_optimizer(
    name: str, parameters: Iterator[nn.Parameter], *, learning_rate: float, weight_decay: float
) -> torch.optim.Optimizer:
    """The optimizer by name; SGD gets the usual momentum of 0.9."""
    params = [p for p in parameters if p.requires_grad]
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate, momentum=0.9, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r}", hint=f"use one of {', '.join(OPTIMIZERS)}")


@torch.no_grad()
def torch_outputs(module: nn.Module, items: Sequence[Any], batch_size: int) -> list[np.ndarray]:
    """The module's first output for each item (eval mode, batched for speed, split back per item)."""
    was_training = module.training
    module.eval()
    sizes = item_sizes(items)
    outputs: list[np.ndarray] = []
    try:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            inputs, _ = _batch(chunk)
            produced = first_output(call_module(module, inputs)).float().numpy()
            offset = 0
            for size in sizes[start : start + len(chunk)]:
                outputs.append(produced[offset : offset + size])
                offset += size
    finally:
        module.train(was_training)
    return outputs
