"""The errors that are the user's to fix (a bad gin file or binding, an unwritable
MODEL_DIR, an incompatible, missing or unreadable checkpoint, a failed save, a missing
dataset, a bad data row, a run gone non-finite, processes that did not all join):
train.py and eval.py print their message and exit non-zero without a traceback; every
other exception is a bug and keeps its traceback.

Their modules are imported only when an exception is being reported, so that parsing the
command line does not load jax.
"""
import importlib
import sys


class GinConfigError(ValueError):
  """A gin file or binding that does not parse or names nothing."""


# (module, name) of the user error types defined elsewhere.
_ELSEWHERE = (
    ("trainer.run_dir", "ModelDirError"),
    ("trainer.checkpoints", "IncompatibleCheckpointError"),
    ("trainer.checkpoints", "MissingCheckpointError"),
    ("trainer.checkpoints", "UnreadableCheckpointError"),
    ("trainer.checkpoints", "CheckpointSaveError"),
    ("interop.checkpoint_source", "CheckpointError"), ("interop.hf_config", "HFConfigError"),
    ("tasks.tfds_source", "TfdsDataMissingError"), ("tasks.json_text", "BadDataError"),
    ("tasks.templates", "TemplateFieldError"), ("tasks.templates", "TemplatePatternError"),
    ("tasks.promptsource", "TemplateRenderError"), ("trainer.non_finite", "NonFiniteError"),
    ("trainer.process_join", "ProcessesDidNotJoinError"))


def user_error_types(imported_only: bool = False) -> tuple[type[BaseException], ...]:
  """imported_only: only the types whose modules are imported already, importing nothing
  (enough to classify an error that was raised: its type's module is loaded)."""
  return (GinConfigError, *(getattr(importlib.import_module(module), name)
                            for module, name in _ELSEWHERE
                            if not imported_only or module in sys.modules))


def is_user_error(error: BaseException, imported_only: bool = False) -> bool:
  return isinstance(error, user_error_types(imported_only))
