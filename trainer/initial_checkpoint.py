"""INITIAL_CHECKPOINT_PATH: the parameters a fresh run starts from (t5x's name), or the
checkpoint eval.py evaluates. Three kinds, told apart by what is on disk:

  a run of ours (MODEL_DIR, its checkpoints/ or one step directory): orbax, params only;
  a HuggingFace directory (config.json + safetensors or pytorch_model.bin);
  a .gguf file (Llama family).

`check` compares the chosen model config with the checkpoint (its config and every tensor's
name and shape) reading no weights, so a mismatch fails before anything is placed on
devices or written to MODEL_DIR; `load` then builds the parameters into given shardings.
"""
import os

from interop import gguf_import, hf_config, hf_import
from interop.checkpoint_source import CheckpointError, hf_checkpoint_source
from models.config import ModelConfig
from trainer import checkpoints as checkpoints_lib
from trainer import restore

ORBAX, HUGGINGFACE, GGUF = "orbax", "huggingface", "gguf"


def kind(path: str) -> str:
  """Which of the three kinds `path` is; anything else is a clear error."""
  expanded = os.path.expanduser(path)
  if os.path.isfile(expanded) and expanded.endswith(".gguf"):
    return GGUF
  if os.path.isfile(os.path.join(expanded, "config.json")):
    return HUGGINGFACE
  if restore.is_checkpoint_directory(expanded):
    return ORBAX
  raise CheckpointError(f"initial checkpoint {path}: neither a .gguf file, a HuggingFace "
                        "directory (config.json + weights) nor a run or checkpoint "
                        "directory of ours")


def _foreign_source(path: str, config: ModelConfig):
  """(tensor source, where its config was read, the ModelConfig it describes)."""
  path = os.path.expanduser(path)
  if kind(path) == GGUF:
    described = hf_config.model_config(gguf_import.hf_config_dict(path), base=config)
    return gguf_import.GGUFSource(path, config), path, described
  hf = hf_config.read_config_json(path)
  return hf_checkpoint_source(path), hf["_source"], hf_config.model_config(hf, base=config)


def check(path: str, config: ModelConfig, abstract_params):
  """Raises naming `path` and the mismatch unless the checkpoint holds exactly the
  parameters of `config` (shaped like `abstract_params`); reads metadata only."""
  if kind(path) == ORBAX:
    checkpoints_lib.check_compatible(restore.saved_params_metadata(path), abstract_params,
                                     path)
    return
  source, config_source, described = _foreign_source(path, config)
  mismatches = hf_config.architecture_mismatches(config, described)
  if mismatches:
    raise CheckpointError(f"initial checkpoint {config_source} describes another model than "
                          f"the chosen config: {'; '.join(mismatches)}")
  # The importer's own name and shape check, without building anything.
  # pylint: disable-next=protected-access
  hf_import._check(source, config, hf_import._flat(abstract_params))


def load(path: str, config: ModelConfig, abstract_params, shardings):
  """The checkpoint's parameters for `config`, in `shardings` (checked first)."""
  if kind(path) == ORBAX:
    return restore.restore_params(path, abstract_params)[0]
  source, config_source, described = _foreign_source(path, config)
  return hf_import.load_into(source, config_source, described, config, abstract_params,
                             shardings)


def params_or_run(path: str | None, run_dir: str, config: ModelConfig, abstract_params,
                  shardings):
  """A stage's base parameters: from `path` when given, else the newest checkpoint of the
  earlier stage's run in `run_dir` (how the RLHF stages hand weights on)."""
  if path:
    return load(path, config, abstract_params, shardings)
  return restore.restore_params(os.path.join(run_dir, "checkpoints"), abstract_params)[0]
