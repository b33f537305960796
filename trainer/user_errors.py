"""The errors that are the user's to fix (a bad gin file or binding, an unwritable
MODEL_DIR, an incompatible, missing or unreadable checkpoint, a failed save, a missing
dataset, a bad data row, a run gone non-finite, processes that did not all join):
train.py and eval.py print their message and exit non-zero without a traceback; every
other exception is a bug and keeps its traceback.

Their modules are looked up, never imported, here: a raised error's type has its module
loaded already, and importing the others would load jax while the command line is parsed.
"""
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


def _loaded_user_error_types() -> tuple[type[BaseException], ...]:
  return (GinConfigError, *(getattr(sys.modules[module], name)
                            for module, name in _ELSEWHERE if module in sys.modules))


def is_user_error(error: BaseException) -> bool:
  return isinstance(error, _loaded_user_error_types())
