"""OpenVINO exceptions -> ovq errors, in one place.

OpenVINO raises plain ``RuntimeError`` (or ``OpConversionFailure``) whose text is a trail of C++ source
locations followed by the message that matters. Every caller that reads, converts, reshapes, compiles or
runs a model maps the exception here, so one failure gets one error class, one message and one hint
whichever command hit it:

- reading a file          -> ModelFormatError (exit 7), hint: re-export the .xml and .bin together
- converting a model      -> StageError (exit 3) with the converter's full message (every unsupported
                             operation it lists), hint: unsupported operations or static shapes
- a plugin setting        -> ConfigError (exit 2): a property value the plugin rejects (``-nstreams abc``),
                             an unknown property, a device that is not available
- compiling otherwise     -> StageError (exit 3), hint about dynamic shapes where the model has them
- reshaping               -> ConfigError (exit 2): the requested shapes do not fit the model
- running inference       -> DataMismatchError (exit 8): the data does not fit the model's inputs
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ovq.errors import ConfigError, DataMismatchError, ModelFormatError, OvqError, StageError

# Lines of OpenVINO's exception text that locate the error in its sources rather than describe it.
_TRAIL_PREFIXES = ("Exception from ", "Check '", "FrontEnd API failed with")
# Words of the CPU plugin (and OpenVINO's property parser) when it rejects a configuration value.
_SETTING_MARKERS = (
    "Wrong value",
    "Unsupported property",
    "Could not read",
    "Expected only",
    "is not a valid",
    "Unsupported config key",
)
_DEVICE_MARKERS = ("Cannot load library", "is not registered", "Device with", "No device")


def _lines(error: BaseException) -> list[str]:
    return [line.strip() for line in str(error).splitlines() if line.strip()]


def ov_message(error: BaseException) -> str:
    """OpenVINO's own last message, without the ``Exception from src/...`` trail of source locations."""
    lines = _lines(error)
    meaningful = [line for line in lines if not line.startswith(_TRAIL_PREFIXES)]
    return (meaningful or lines or [type(error).__name__])[-1]


def ov_full_message(error: BaseException) -> str:
    """Every meaningful line of OpenVINO's message on one line (e.g. each operation the converter lacks)."""
    lines = _lines(error)
    meaningful = [line for line in lines if not line.startswith(_TRAIL_PREFIXES)]
    return "; ".join(meaningful or lines or [type(error).__name__])


def read_error(error: BaseException, path: Path | str) -> ModelFormatError:
    """A model file OpenVINO could not read: truncated, corrupt, or not what its suffix says."""
    return ModelFormatError(
        f"cannot read {path}: {ov_message(error)}",
        hint="the file looks truncated or corrupt; re-export the model (the .xml and .bin together)",
    )


def conversion_error(error: BaseException, what: str, *, stage: str | None = None) -> StageError:
    """The converter failed: keep its full message, which lists every operation it could not convert."""
    return StageError(
        f"OpenVINO could not convert {what}: {ov_full_message(error)}",
        hint="the model uses operations OpenVINO's converter does not support (listed above), or shapes it "
        "cannot trace: give static input shapes and a representative example input, replace the unsupported "
        "operations, or export to ONNX first",
        stage=stage,
    )


# What OpenVINO's frontends say about a well-formed file with operations they cannot convert.
_CONVERSION_MARKERS = ("conversion rule", "fully converted", "OpConversionFailure", "is not supported", "Unsupported")


def is_conversion_failure(error: BaseException) -> bool:
    """Whether a frontend read the file but could not convert some of its operations (not a damaged file)."""
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in _CONVERSION_MARKERS)


def is_setting_error(error: BaseException) -> bool:
    """Whether OpenVINO rejected a property or its value (a user's option, not a broken model)."""
    text = str(error)
    return any(marker in text for marker in _SETTING_MARKERS)


def compile_error(
    error: BaseException, *, device: str, model: Any = None, config: dict[str, Any] | None = None
) -> OvqError:
    """A failed ``compile_model``: a rejected setting or missing device is a ConfigError, the rest a StageError."""
    message = ov_message(error)
    text = str(error)
    if is_setting_error(error):
        settings = ", ".join(f"{key}={value}" for key, value in (config or {}).items())
        return ConfigError(
            f"the {device} plugin rejected a setting: {message}",
            hint=f"check the compile options ({settings})" if settings else "check the compile options",
        )
    if any(marker in text for marker in _DEVICE_MARKERS):
        return ConfigError(
            f"device {device} is not available: {message}", hint=f"available devices: {', '.join(_devices())}"
        )
    hint = None
    if _has_dynamic_inputs(model):
        hint = "the model has dynamic input shapes: give static shapes (export's input_shapes, or -shape)"
    return StageError(f"the {device} plugin could not compile the model: {message}", hint=hint)


def reshape_error(error: BaseException, *, model_inputs: str, requested: Iterable[str]) -> ConfigError:
    return ConfigError(
        f"cannot reshape inputs {model_inputs} to {list(requested)}: {ov_message(error)}",
        hint="give shapes the model accepts (batch dimension included)",
    )


def inference_error(error: BaseException, where: str = "the dataset") -> DataMismatchError:
    return DataMismatchError(f"inference failed on {where}: {ov_message(error)}")


def _has_dynamic_inputs(model: Any) -> bool:
    inputs = getattr(model, "inputs", [])
    try:
        return any(port.get_partial_shape().is_dynamic for port in inputs)
    except RuntimeError:  # a compiled model's ports, or a port without a shape
        return False


def _devices() -> list[str]:
    import openvino as ov

    return list(ov.Core().available_devices)
