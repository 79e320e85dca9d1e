"""One error tree for everything a user can get wrong.

Every error carries an exit code and a hint (what to do about it). The CLI is the only place that turns
them into exit codes and colours; library code raises and never prints.

Exit codes (stable, CI scripts act on them):

    0  success
    1  a bug in ovq (unexpected exception; the traceback is kept)
    2  ConfigError          the pipeline file or an option is wrong
    3  StageError           a stage failed for a reason that is not the user's input
    4  AccuracyBudgetError  the accuracy budget was not met (fail closed)
    5  PerformanceGateError a speed/size gate was not met
    6  InputFileError       a file the run needs is missing or unreadable
    7  ModelFormatError     a model file is truncated, corrupt or of an unsupported kind
    8  DataMismatchError    the data does not fit the model's inputs
    9  DependencyError      an optional package that the requested feature needs is not installed
   10  RegressionError      a nightly gate found a regression against the baseline
"""

from __future__ import annotations


class OvqError(Exception):
    """Base of every error a user can act on."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None, stage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.stage = stage
        # Set by the pipeline when a failed run still wrote its report.
        self.run_dir: str | None = None
        # What the failed stage found out before failing (e.g. accuracy control's steps); goes in the report.
        self.details: dict[str, object] | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"stage": self.stage, "type": type(self).__name__, "message": self.message, "hint": self.hint}


class ConfigError(OvqError):
    exit_code = 2
    default_hint = "run `ovq pipeline schema` to see every allowed field"


class StageError(OvqError):
    exit_code = 3
    default_hint = "the cause is shown above; rerun with --debug for the full traceback"


class AccuracyBudgetError(OvqError):
    exit_code = 4
    default_hint = "loosen the budget, exclude sensitive layers (ignored_scope) or try accuracy control / QAT"


class PerformanceGateError(OvqError):
    exit_code = 5
    default_hint = "compare against the baseline report; rerun to rule out machine noise"


class InputFileError(OvqError):
    exit_code = 6
    default_hint = "check the path; relative paths are resolved against the pipeline file's folder"


class ModelFormatError(OvqError):
    exit_code = 7
    default_hint = "re-export the model; an IR needs both its .xml and its .bin, written completely"


class DataMismatchError(OvqError):
    exit_code = 8
    default_hint = "make the dataset yield arrays shaped like the model's inputs (batch dimension included)"


class DependencyError(OvqError):
    exit_code = 9
    default_hint = "install the missing package into the same environment as ovq"


class RegressionError(OvqError):
    exit_code = 10
    default_hint = "see the nightly summary for the metric that moved and the baseline it was compared to"
