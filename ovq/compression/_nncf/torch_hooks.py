"""NNCF's PyTorch internals that QAT needs: its hook storage, its quantizer modules, its C++ extension.

NNCF 3.4 keeps the quantizers it inserts in a ``HookStorage`` child module of the model; ovq counts them
(to tell a prepared module from a plain one) and skips the storage when a top-level nn.Sequential is
called. Its CPU extension loader tells where the compiled kernels are cached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ovq.compression._nncf import require


def hook_storage_class() -> type:
    """The class NNCF keeps a module's hooks (its quantizers among them) in."""
    storage: type = require("nncf.torch.function_hook.hook_storage", "HookStorage").HookStorage
    return storage


def quantizer_count(module: Any) -> int:
    """How many NNCF quantizers the module carries (0 for a module prepare_qat has not seen)."""
    hooks = require("nncf.torch.function_hook", "is_wrapped")
    wrapper = require("nncf.torch.function_hook.wrapper", "get_hook_storage")
    layers = require("nncf.torch.quantization.layers", "BaseQuantizer")
    if not hooks.is_wrapped(module):
        return 0
    storage = wrapper.get_hook_storage(module)
    return sum(isinstance(hook, layers.BaseQuantizer) for _, hook in storage.named_hooks())


def cpu_extension_location() -> tuple[Path, str]:
    """Where NNCF caches its compiled CPU quantization kernels, and the extension's file-name stem."""
    loader = require("nncf.torch.quantization.extensions", "QuantizedFunctionsCPULoader").QuantizedFunctionsCPULoader
    return Path(loader.get_build_dir()), str(loader.name())
