"""Batches from seqio for a training run: deterministic, per host, resumable by step."""
import os

import jax
import numpy as np
import seqio

from trainer import input_state


def training_dataset(mixture_or_task_name: str, task_feature_lengths: dict,
                     feature_converter: seqio.FeatureConverter, batch_size: int, seed: int,
                     split: str = "train", process: tuple[int, int] | None = None):
  """An infinite, shuffled, batched tf.data pipeline of this host's share of the batch.

  The same seed gives the same sequence of batches, so a resumed run continues exactly
  where it stopped (from the saved position, see `resumable_input`).
  process: (index, count) of the process whose share to read; default this one's.
  """
  index, count = process or (jax.process_index(), jax.process_count())
  if batch_size % count:
    raise ValueError(f"BATCH_SIZE={batch_size} is not divisible by the {count} processes")
  return seqio.get_dataset(
      mixture_or_task_name, task_feature_lengths, feature_converter, dataset_split=split,
      shuffle=True, num_epochs=None, seed=seed, shard_info=seqio.ShardInfo(index, count),
      batch_size=batch_size // count, verbose=False)


def resumable_input(dataset, model_dir: str, mixture_or_task_name: str,
                    task_feature_lengths: dict, batch_size: int, seed: int,
                    split: str = "train") -> input_state.ResumableInput:
  """`training_dataset`'s batches with their position saved in MODEL_DIR/input_state."""
  return input_state.ResumableInput(
      dataset, os.path.join(model_dir, "input_state"),
      input_state.fingerprint(mixture_or_task_name, task_feature_lengths, batch_size, seed,
                              split),
      lambda: input_state.tasks_running_python(mixture_or_task_name, task_feature_lengths,
                                               split))


def example_batch(element_spec) -> dict:
  """Zeros shaped like one batch: enough for `module.init` to know every parameter shape."""
  return {k: np.zeros(v.shape, v.dtype.as_numpy_dtype) for k, v in element_spec.items()}


def to_global_arrays(host_batch: dict, shardings: dict) -> dict:
  return {k: jax.make_array_from_process_local_data(shardings[k], v)
          for k, v in host_batch.items()}
