"""The project's errors: one base class, each error carrying one clear sentence for the user.

``except RnnSweepsError`` catches everything this package raises on purpose; each class keeps
the builtin base callers of the standard library would expect (ValueError, RuntimeError, ...).
"""

__all__ = ["RnnSweepsError", "ConfigError", "DataError", "CheckpointError", "TrainingDiverged",
           "TrialOutOfMemory", "SweepInterrupted", "IncompatibleLibrary"]


class RnnSweepsError(Exception):
    """Base of every error rnn-sweeps raises on purpose."""


class ConfigError(RnnSweepsError, ValueError):
    """A bad option value or search space, found before any work starts."""


class DataError(RnnSweepsError, ValueError):
    """A missing, empty or corrupt dataset file; the message names the file."""


class CheckpointError(RnnSweepsError, ValueError):
    """A checkpoint file that is missing, damaged, or holds more than plain state."""


class TrainingDiverged(RnnSweepsError, RuntimeError):
    """The training loss became NaN or infinite."""


class TrialOutOfMemory(RnnSweepsError, MemoryError):
    """The model or a batch did not fit in memory (CPU RAM or GPU memory)."""


class SweepInterrupted(RnnSweepsError, KeyboardInterrupt):
    """A sweep stopped by Ctrl-C or SIGTERM, its state saved for ``--resume``."""


class IncompatibleLibrary(RnnSweepsError, RuntimeError):
    """An internal of Ray, Optuna or MLflow that rnn-sweeps relies on is gone or changed
    shape in the installed version; the message names the library, its version and the
    internal (``rnn_core/tuning/_compat_*.py``)."""
