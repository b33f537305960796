"""orbax checkpoints of the whole train state: async saves, keep-N, resume, any mesh.

Restoring goes through the target's abstract state, whose leaves carry the target mesh's
shardings, so a checkpoint saved on one mesh restores straight into the shards of another.
"""
import jax
import orbax.checkpoint as ocp

from trainer import run_dir


class IncompatibleCheckpointError(ValueError):
  pass


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


class Checkpoints:
  """The checkpoints of one run, in `directory`."""

  def __init__(self, directory: str, save_every: int, keep: int | None = 3,
               custom_metadata: dict | None = None):
    """custom_metadata: JSON saved with every step (a PEFT run's base identity)."""
    self.directory = run_dir.resolve(directory)
    self.save_every = save_every
    self.custom_metadata = custom_metadata
    self.manager = ocp.CheckpointManager(
        self.directory,
        item_handlers=ocp.StandardCheckpointHandler(),  # lets a fresh process read metadata
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def saved_custom_metadata(self, step: int) -> dict:
    return dict(self.manager.metadata(step).custom_metadata or {})

  def restore(self, abstract_state, step: int | None = None):
    """Restores `step` (default: latest) into the shardings carried by `abstract_state`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    saved = self.manager.item_metadata(step).tree
    check_compatible(saved["params"], abstract_state.params, f"{self.directory}/{step}")
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

  def is_due(self, step: int) -> bool:
    return step % self.save_every == 0

  def save(self, step: int, state):
    """Starts an async save of `state` as `step`; returns once the device arrays are copied."""
    self.manager.save(step, args=ocp.args.StandardSave(state), force=True,
                      custom_metadata=self.custom_metadata)

  def wait(self):
    """Blocks until every started save is on disk."""
    self.manager.wait_until_finished()

  def close(self):
    """Waits for pending saves, then releases the manager."""
    self.wait()
    self.manager.close()
