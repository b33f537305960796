"""The errors that are the user's to fix (a bad gin file or binding, an unwritable
MODEL_DIR, an incompatible, missing or unreadable checkpoint, a failed save, a missing
dataset, a bad data row, a run gone non-finite, processes that did not all join):
train.py and eval.py print their message and exit non-zero without a traceback; every
other exception is a bug and keeps its traceback.

Their modules are imported only when an exception is being reported, so that parsing the
command line does not load jax.
"""


class GinConfigError(ValueError):
  """A gin file or binding that does not parse or names nothing."""


def user_error_types() -> tuple[type[BaseException], ...]:
  # pylint: disable=import-outside-toplevel
  from interop import checkpoint_source, hf_config
  from tasks import json_text, promptsource, templates, tfds_source
  from trainer import checkpoints, non_finite, process_join, run_dir
  return (GinConfigError, run_dir.ModelDirError, checkpoints.IncompatibleCheckpointError,
          checkpoints.MissingCheckpointError, checkpoints.UnreadableCheckpointError,
          checkpoints.CheckpointSaveError,
          checkpoint_source.CheckpointError, hf_config.HFConfigError,
          tfds_source.TfdsDataMissingError, json_text.BadDataError,
          templates.TemplateFieldError, templates.TemplatePatternError,
          promptsource.TemplateRenderError, non_finite.NonFiniteError,
          process_join.ProcessesDidNotJoinError)


def is_user_error(error: BaseException) -> bool:
  return isinstance(error, user_error_types())
