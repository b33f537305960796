"""Read-only views of checkpoint files: tensor names, shapes, and one tensor at a time.

Every format (safetensors, PyTorch `.bin`, GGUF) offers the same two things, so one loader
checks names and shapes before reading any data, then reads each tensor only when the
device shards that need it are filled.
"""
import json
import pathlib
from typing import Protocol

import numpy as np


class CheckpointError(ValueError):
  """A checkpoint that does not fit the model it is loaded into."""


class TensorSource(Protocol):
  description: str

  def shapes(self) -> dict[str, tuple[int, ...]]:
    ...

  def read(self, name: str) -> np.ndarray:
    ...


def _as_float(array: np.ndarray) -> np.ndarray:
  # bf16/fp16 files are widened once here; the loader casts to the parameter dtype.
  return array if array.dtype == np.float32 else array.astype(np.float32)


class SafetensorsSource:
  """`*.safetensors` files, memory-mapped: a tensor's bytes are read when it is asked for."""

  def __init__(self, files: list[pathlib.Path], description: str):
    from safetensors import safe_open  # pylint: disable=import-outside-toplevel
    self._open = safe_open
    self.description = description
    self._file_of, self._shapes = {}, {}
    for path in files:
      with safe_open(str(path), framework="numpy") as f:
        for name in f.keys():
          self._file_of[name] = path
          self._shapes[name] = tuple(f.get_slice(name).get_shape())

  def shapes(self):
    return dict(self._shapes)

  def read(self, name):
    with self._open(str(self._file_of[name]), framework="numpy") as f:
      return _as_float(f.get_tensor(name))


class TorchBinSource:
  """`pytorch_model*.bin` state dicts (needs torch; memory-mapped, weights only)."""

  def __init__(self, files: list[pathlib.Path], description: str):
    try:
      import torch  # pylint: disable=import-outside-toplevel
    except ImportError as e:
      raise CheckpointError(f"{description}: reading PyTorch .bin checkpoints needs torch "
                            "(pip install torch==2.13.0)") from e
    self.description = description
    self._tensors = {}
    for path in files:
      self._tensors.update(
          torch.load(str(path), map_location="cpu", weights_only=True, mmap=True))

  def shapes(self):
    return {k: tuple(v.shape) for k, v in self._tensors.items()}

  def read(self, name):
    return self._tensors[name].float().numpy()


def _shard_files(index_path: pathlib.Path) -> list[pathlib.Path]:
  with open(index_path, encoding="utf-8") as f:
    weight_map = json.load(f).get("weight_map")
  if not weight_map:
    raise CheckpointError(f"{index_path}: no 'weight_map'")
  return [index_path.parent / name for name in sorted(set(weight_map.values()))]


def hf_checkpoint_source(checkpoint_dir: str | pathlib.Path) -> TensorSource:
  """The weights of a HuggingFace checkpoint directory: safetensors first, then `.bin`."""
  directory = pathlib.Path(checkpoint_dir)
  for name, source in (("model.safetensors", SafetensorsSource),
                       ("pytorch_model.bin", TorchBinSource)):
    index = directory / f"{name}.index.json"
    if index.exists():
      return source(_shard_files(index), str(index))
    if (directory / name).exists():
      return source([directory / name], str(directory / name))
  raise CheckpointError(f"{directory}: no model.safetensors, pytorch_model.bin or their "
                        "sharded *.index.json")
