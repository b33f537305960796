"""The input pipeline's position, saved with every checkpoint, so a resumed run continues the
batch order without replaying the batches it has consumed.

tf.data serialises an iterator's whole state (the sources' positions, shuffle buffers, the
mixture's sampler, packed and prefetched elements): restoring it costs the same at step 10
as at step 100,000, where skipping re-runs the preprocessing of every consumed batch.

Layout: MODEL_DIR/input_state/<step>/process_<i>.* (one tf.train.Checkpoint per process,
written before orbax starts saving that step, so every finished step has its input state)
and process_<i>.json: the fingerprint of what the batch order depends on, and the process
count. A resume refuses another run's fingerprint before anything runs; on another process
count, or a source tf.data cannot save (Python code with state of its own inside the
pipeline: `from_generator`, `py_function`, a stateful `numpy_function`), it replays the
consumed batches as before and says why. The repo's own Python steps (rendering records,
HF tokenizers) are stateless numpy_functions, whose position tf.data saves.
"""
import contextlib
import json
import os

from etils import epath
import jax
import numpy as np
import seqio
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from trainer import run_dir

# Ops whose state lives in Python, out of tf.data's reach. A numpy_function declared
# stateless (PyFuncStateless, e.g. tasks.records' rendering) has none to lose.
PYTHON_OPS = frozenset({"PyFunc", "EagerPyFunc", "GeneratorDataset"})
_IGNORE = tf.data.experimental.ExternalStatePolicy.IGNORE


class InputStateMismatchError(ValueError):
  pass


def fingerprint(mixture_or_task_name: str, task_feature_lengths: dict, batch_size: int,
                seed: int, split: str = "train") -> dict:
  """What the batch order depends on, as JSON."""
  return {"mixture_or_task_name": mixture_or_task_name,
          "task_feature_lengths": {k: int(v) for k, v in sorted(task_feature_lengths.items())},
          "batch_size": int(batch_size), "seed": int(seed), "split": split}


def python_ops(dataset: tf.data.Dataset) -> set[str]:
  """The ops of `dataset`'s graph (and the functions it maps) that run Python."""
  graph = graph_pb2.GraphDef()
  graph.ParseFromString(tf.raw_ops.DatasetToGraphV2(
      input_dataset=dataset._variant_tensor,  # pylint: disable=protected-access
      external_state_policy=_IGNORE.value).numpy())
  ops = {node.op for node in graph.node}
  ops.update(node.op for function in graph.library.function for node in function.node_def)
  return ops & PYTHON_OPS


def tasks_running_python(mixture_or_task_name: str, task_feature_lengths: dict,
                         split: str) -> list[str]:
  """The mixture's leaf tasks whose pipelines run Python (named in the fallback warning)."""
  leaves = seqio.get_subtasks(seqio.get_mixture_or_task(mixture_or_task_name))
  return sorted(task.name for task in leaves if python_ops(task.get_dataset(
      task_feature_lengths, split, shuffle=False, num_epochs=1, use_cached=False)))


def _state_files(directory: str, step: int) -> epath.Path:
  return epath.Path(directory) / str(step)


def _saved_record(directory: str) -> tuple[dict, str] | None:
  """(the newest step's saved record, its path), or None when no step has one."""
  root = epath.Path(directory)
  if not root.is_dir():
    return None
  steps = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True)
  for step in steps:
    records = sorted(_state_files(directory, step).glob("process_*.json"))
    if records:
      return json.loads(records[0].read_text()), os.fspath(records[0])
  return None


class ResumableInput:
  """One process's batches of a tf.data pipeline, starting at any step, their position
  saved per step in `directory` (MODEL_DIR/input_state)."""

  def __init__(self, dataset: tf.data.Dataset, directory: str, run_fingerprint: dict,
               unsaveable_sources=lambda: []):
    """unsaveable_sources: () -> names of the sources that run Python (for the warning)."""
    options = tf.data.Options()
    # The pipeline's counters (tasks.stats) are variables; they count, they do not steer.
    options.experimental_external_state_policy = _IGNORE
    self.dataset = dataset.with_options(options)
    self.directory = directory
    self.fingerprint = run_fingerprint
    self.process_index, self.process_count = jax.process_index(), jax.process_count()
    self.saveable = not python_ops(self.dataset)
    self._unsaveable_sources = unsaveable_sources
    self._iterator = None
    if not self.saveable:
      print("WARNING: the input pipeline runs Python (from_generator or py_function), whose "
            "position tf.data cannot save; a resume will replay the consumed batches",
            flush=True)

  def check_saved(self):
    """Raises if the newest saved input state belongs to another mixture or config."""
    saved = _saved_record(self.directory)
    if saved is None:
      return
    record, where = saved
    differ = [f"{k}: saved {record['fingerprint'].get(k)!r}, this run {v!r}"
              for k, v in self.fingerprint.items() if record["fingerprint"].get(k) != v]
    if differ:
      raise InputStateMismatchError(
          f"{where} is the input state of another run's batches ({'; '.join(differ)}). "
          f"Resume with the run's own config, or start a new MODEL_DIR.")

  def _prefix(self, step: int) -> str:
    return os.fspath(_state_files(self.directory, step) / f"process_{self.process_index}")

  def _fallback_reason(self, start_step: int) -> str | None:
    """Why the saved position of `start_step` cannot be used, or None if it can."""
    if not self.saveable:
      sources = ", ".join(self._unsaveable_sources()) or "the mixture"
      return (f"WARNING: tf.data cannot save the position of {sources} (Python code in the "
              f"pipeline: from_generator or py_function)")
    own = epath.Path(self._prefix(start_step) + ".json")
    records = [own] if own.exists() else sorted(
        _state_files(self.directory, start_step).glob("process_*.json"))
    if not records:
      return f"no saved input state at {own}"
    saved_count = json.loads(records[0].read_text())["process_count"]
    if saved_count != self.process_count:
      return (f"the input state was saved by {saved_count} processes and this run has "
              f"{self.process_count}: each process now reads another share of the data, "
              f"so the batch order from here differs from the interrupted run's")
    return None if records[0] == own else f"no saved input state at {own}"

  def iterator(self, start_step: int):
    """An iterator of numpy batches from `start_step` on (the saved position if usable,
    else the first `start_step` batches replayed, saying why)."""
    self._iterator = iter(self.dataset)
    if start_step:
      reason = self._fallback_reason(start_step)
      if reason is None:
        tf.train.Checkpoint(iterator=self._iterator).read(
            self._prefix(start_step)).assert_consumed()
        print(f"input pipeline restored at step {start_step} from {self.directory}",
              flush=True)
      else:
        print(f"{reason}; replaying {start_step} batches to resume the input pipeline",
              flush=True)
        for _ in range(start_step):
          next(self._iterator)
    return (tf.nest.map_structure(np.asarray, batch) for batch in self._iterator)

  def save(self, step: int, kept_steps=()):
    """Writes the iterator's position as `step`'s; drops the states of steps older than
    every kept checkpoint (`kept_steps`)."""
    if not self.saveable or self._iterator is None:
      return
    _state_files(self.directory, step).mkdir(parents=True, exist_ok=True)
    tf.train.Checkpoint(iterator=self._iterator).write(self._prefix(step))
    run_dir.write_text(self._prefix(step) + ".json", json.dumps(
        {"fingerprint": self.fingerprint, "process_count": self.process_count}))
    self._drop_older_than(min(kept_steps, default=step))

  def save_beside(self, step: int, checkpoints):
    """`save` as a Stage's save_inputs: keeps the states of the steps `checkpoints` keeps."""
    self.save(step, checkpoints.manager.all_steps())

  def _drop_older_than(self, step: int):
    root = epath.Path(self.directory)
    for path in root.iterdir():
      if not (path.name.isdigit() and int(path.name) < step):
        continue
      for own in path.glob(f"process_{self.process_index}.*"):
        own.unlink()
      with contextlib.suppress(OSError):  # another process's files are still there
        path.rmdir()
