"""orbax checkpoints of the whole train state: async saves, keep-N, resume, any mesh.

Restoring goes through the target's abstract state, whose leaves carry the target mesh's
shardings, so a checkpoint saved on one mesh restores straight into the shards of another.

A save that fails (a full disk, a file-size limit) is reported naming the step directory
and the reason; orbax writes into a temporary directory and renames it when complete, so
the previous checkpoint is untouched. A checkpoint that cannot be read is moved aside
(`<step>.corrupt-<n>`, outside orbax's step names), never deleted.
"""
import contextlib
import os
import re

from etils import epath
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp

from trainer import run_dir


class IncompatibleCheckpointError(ValueError):
  pass


class MissingCheckpointError(FileNotFoundError):
  pass


class NoIntactCheckpointError(MissingCheckpointError):
  pass


class UnreadableCheckpointError(ValueError):
  pass


class CheckpointSaveError(OSError):
  pass


def unreadable_reason(error: BaseException) -> str | None:
  """Why a checkpoint could not be read (the innermost message of what tensorstore, orbax
  or the JSON reader raised), or None when `error` is no read failure (a bug, a model
  that does not match)."""
  if isinstance(error, IncompatibleCheckpointError):
    return None
  chain = []
  while error is not None and len(chain) < 20:
    chain.append(error)
    error = error.__cause__ or error.__context__
  if not any(isinstance(e, (ValueError, OSError)) for e in chain):
    return None
  innermost = str(chain[-1]).strip().splitlines() or [type(chain[-1]).__name__]
  return innermost[0][:300]


def _os_error_reason(error: BaseException) -> str | None:
  """The operating system's reason (ENOSPC, EFBIG, ...) anywhere in `error`'s chain;
  tensorstore reports it as `[os_error_code='28']` inside a ValueError."""
  while error is not None:
    code = getattr(error, "errno", None)
    found = re.search(r"os_error_code='(\d+)'", str(error))
    if code is None and found:
      code = int(found.group(1))
    if code is not None:
      return os.strerror(code)
    error = error.__cause__ or error.__context__
  return None


def _flat_shapes(tree) -> dict[str, tuple]:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path, simple=True, separator="/"): tuple(leaf.shape)
          for path, leaf in leaves}


def check_compatible(saved_params, target_params, where: str):
  """Raises naming the parameters whose names or shapes differ; lists at most 10 of each."""
  saved, target = _flat_shapes(saved_params), _flat_shapes(target_params)
  missing = sorted(set(target) - set(saved))
  unexpected = sorted(set(saved) - set(target))
  mismatched = sorted(k for k in set(saved) & set(target) if saved[k] != target[k])
  if not (missing or unexpected or mismatched):
    return
  lines = [f"checkpoint {where} does not match the model config:"]
  if mismatched:
    lines.append(f"  {len(mismatched)} parameters differ in shape"
                 + (", the first 10:" if len(mismatched) > 10 else ":"))
    lines += [f"  {k}: checkpoint {saved[k]}, model {target[k]}" for k in mismatched[:10]]
  if missing:
    lines.append(f"  missing from the checkpoint: {', '.join(missing[:10])}")
  if unexpected:
    lines.append(f"  in the checkpoint but not the model: {', '.join(unexpected[:10])}")
  raise IncompatibleCheckpointError("\n".join(lines))


def step_custom_metadata(step_directory) -> dict:
  """The JSON saved with one step, read from its metadata file alone: the manager's
  metadata(step) also reads every array's metadata, which costs far more than the file."""
  return dict(ocp.metadata.get_step_metadata(step_directory).custom_metadata or {})


class Checkpoints:
  """The checkpoints of one run, in `directory`."""

  def __init__(self, directory: str, save_every: int, keep: int | None = 3,
               custom_metadata: dict | None = None):
    """custom_metadata: JSON saved with every step (a PEFT run's base identity)."""
    self.directory = run_dir.resolve(directory)
    self.save_every = save_every
    self.custom_metadata = custom_metadata
    self.pending_step = None  # of the save in flight
    self.reported_failure = False
    self.manager = ocp.CheckpointManager(
        self.directory,
        item_handlers=ocp.StandardCheckpointHandler(),  # lets a fresh process read metadata
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def saved_custom_metadata(self, step: int) -> dict:
    return step_custom_metadata(epath.Path(self.directory) / str(step))

  def restore(self, abstract_state, step: int | None = None):
    """Restores `step` (default: latest) into the shardings carried by `abstract_state`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise MissingCheckpointError(f"no checkpoint in {self.directory}")
    saved = self.manager.item_metadata(step).tree
    check_compatible(saved["params"], abstract_state.params, f"{self.directory}/{step}")
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

  def moved_aside(self) -> list[str]:
    """The step directories moved aside as unreadable, oldest name first."""
    return sorted(entry.name for entry in epath.Path(self.directory).iterdir()
                  if re.fullmatch(r"\d+\.corrupt-\d+", entry.name))

  def move_aside(self, step: int) -> str:
    """Renames step `step`'s directory to `<step>.corrupt-<n>` (the first free n) so that
    neither a restore nor keep-N garbage collection sees it; returns the new path."""
    source = epath.Path(self.directory) / str(step)
    n = 1
    while (target := source.parent / f"{step}.corrupt-{n}").exists():
      n += 1
    if jax.process_index() == 0:
      source.rename(target)
    multihost_utils.sync_global_devices(f"checkpoint {step} moved aside")
    self.manager.reload()
    return os.fspath(target)

  def is_due(self, step: int) -> bool:
    return step % self.save_every == 0

  def save(self, step: int, state, step_metadata: dict | None = None):
    """Starts an async save of `state` as `step`; returns once the device arrays are copied.
    A failure of the previous save is raised first. step_metadata: JSON of this step only,
    saved beside the run's custom_metadata."""
    self.wait()
    try:
      self.manager.save(step, args=ocp.args.StandardSave(state), force=True,
                        custom_metadata={**(self.custom_metadata or {}),
                                         **(step_metadata or {})})
    except Exception as e:  # pylint: disable=broad-except
      self._raise_if_refused(step, e)
      raise
    self.pending_step = step

  def wait(self):
    """Blocks until every started save is on disk."""
    step, self.pending_step = self.pending_step, None
    try:
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      if self.reported_failure:
        return  # orbax raises a failed save's error again at every wait
      if step is not None:
        self._raise_if_refused(step, e)
      raise

  def _raise_if_refused(self, step: int, error: Exception):
    """Raises CheckpointSaveError when the operating system refused the save's writes."""
    reason = _os_error_reason(error)
    if reason is None:
      return
    self.manager.reload()
    previous = self.latest_step()
    self.reported_failure = True
    kept = (f"the previous checkpoint {self.directory}/{previous} is intact; free space (or "
            f"raise the file-size limit) and rerun the same command to resume from it"
            if previous is not None else "there is no earlier checkpoint")
    raise CheckpointSaveError(f"saving checkpoint {self.directory}/{step} failed: {reason}; "
                              f"{kept}") from error

  def close(self):
    """Waits for pending saves, then releases the manager."""
    try:
      self.wait()
    finally:
      # After a failed save, orbax's close raises its error again; it has been reported.
      with (contextlib.suppress(Exception) if self.reported_failure
            else contextlib.nullcontext()):
        self.manager.close()
