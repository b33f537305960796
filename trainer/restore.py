"""Parameters alone, for every stage: the shapes a module's parameters take on a mesh, a
fresh initialisation straight into their shards, and a checkpoint's `params` restored into
given shardings.

Only `params` is read from a saved state (orbax partial restore), so a checkpoint of any
state (an SFT TrainState, a reward model's, whatever optimizer they used) hands its weights
to evaluation or the next RLHF stage; names and shapes are checked before any array is read.
"""
import contextlib
import os

from etils import epath
import flax.linen as nn
import jax
import orbax.checkpoint as ocp

from trainer import checkpoints as checkpoints_lib
from trainer import partitioning, run_dir


def abstract_params(module, example_batch, mesh, rules):
  """(parameter ShapeDtypeStructs carrying their shardings, NamedSharding tree), from an
  example batch's shapes (the parameters do not depend on its lengths)."""
  boxed = jax.eval_shape(lambda rng: module.init({"params": rng}, example_batch)["params"],
                         jax.random.key(0))
  shardings = partitioning.logical_to_sharding(nn.get_partition_spec(boxed), mesh, rules)
  abstract = jax.tree.map(lambda leaf, s: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=s),
                          nn.unbox(boxed), shardings)
  return abstract, shardings


def init_params(module, example_batch, shardings, mesh, rules, seed: int):
  """Fresh parameters of `module`, initialised directly into their shards."""
  def init(rng):
    return nn.unbox(module.init({"params": rng}, example_batch)["params"])
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    return jax.jit(init, out_shardings=shardings)(jax.random.key(seed))


def checkpoint_directory(path: str) -> str:
  """MODEL_DIR, MODEL_DIR/checkpoints or a step directory's parent, as given."""
  path = run_dir.resolve(path)
  nested = epath.Path(path) / "checkpoints"
  return os.fspath(nested) if nested.is_dir() else path


def _split_step_directory(path: str, step: int | None):
  """A step directory (`.../checkpoints/1200`) names its parent and its step."""
  path = run_dir.resolve(path)
  as_path = epath.Path(path)
  if (step is None and as_path.name.isdigit() and as_path.is_dir()
      and not (as_path / "checkpoints").is_dir()):
    return os.fspath(as_path.parent), int(as_path.name)
  return path, step


def is_checkpoint_directory(path: str) -> bool:
  """Whether `path` is a run directory, its checkpoints directory or one step of ours."""
  directory = checkpoint_directory(_split_step_directory(path, None)[0])
  directory = epath.Path(directory)
  return directory.is_dir() and any(entry.name.isdigit() for entry in directory.iterdir())


@contextlib.contextmanager
def _opened_step(path: str, step: int | None):
  """(manager, step, step directory) for the newest (or the given) step under `path`."""
  path, step = _split_step_directory(path, step)
  directory = checkpoint_directory(path)
  if not epath.Path(directory).is_dir():
    raise checkpoints_lib.MissingCheckpointError(f"no checkpoint directory at {directory}")
  # StandardCheckpointHandler saved it; the PyTree handler under it restores a subtree.
  manager = ocp.CheckpointManager(directory, item_handlers=ocp.PyTreeCheckpointHandler())
  try:
    step = manager.latest_step() if step is None else step
    if step is None or step not in manager.all_steps():
      raise checkpoints_lib.MissingCheckpointError(f"no checkpoint step {step} in {directory}; steps there: "
                              f"{sorted(manager.all_steps())}")
    yield manager, step, f"{directory}/{step}"
  finally:
    manager.close()


def saved_params_metadata(path: str, step: int | None = None):
  """The saved parameter tree's shapes and dtypes, read without loading any array."""
  with _opened_step(path, step) as (manager, step, _):
    return manager.item_metadata(step).tree["params"]


def saved_custom_metadata(path: str, step: int | None = None) -> tuple[dict, str]:
  """(the JSON saved with the newest (or the given) step, that step's directory)."""
  with _opened_step(path, step) as (_, step, where):
    return checkpoints_lib.step_custom_metadata(where), where


def restore_params(path: str, abstract, step: int | None = None):
  """(params, step) from the newest (or the given) step of the checkpoints under `path`
  (a run directory, its checkpoints directory or a step directory), into the shardings
  carried by `abstract`, after checking every parameter's name and shape."""
  with _opened_step(path, step) as (manager, step, where):
    try:
      checkpoints_lib.check_compatible(manager.item_metadata(step).tree["params"], abstract,
                                       where)
      target = {"params": abstract}
      restored = manager.restore(step, args=ocp.args.PyTreeRestore(
          target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
          partial_restore=True))
    except Exception as e:  # pylint: disable=broad-except
      reason = checkpoints_lib.unreadable_reason(e)
      if reason is None:
        raise
      raise checkpoints_lib.UnreadableCheckpointError(
          f"checkpoint {where} cannot be read ({reason}); name an intact step directory "
          f"beside it instead") from e
  return restored["params"], step
