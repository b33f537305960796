"""The evaluation stage: restore parameters (or keep the initialisation), evaluate, write.

  python eval.py --gin_file=gin/runs/eval_heldout.gin --gin.MODEL_DIR="'/tmp/sft_tiny'"
"""
import gin

from models.model_kinds import ModelKind
from trainer import evaluation as evaluation_lib
from trainer import frozen_base, initial_checkpoint, partitioning, restore


def initial_params(model: ModelKind, shardings, mesh, rules, seed: int):
  """Freshly initialised parameters (the untrained baseline), directly into their shards."""
  return restore.init_params(model.module, model.init_batch(), shardings, mesh, rules, seed)


def delta_on_base(model: ModelKind, path: str, step: int | None, mesh, rules,
                  base_path: str | None = None):
  """(full parameters, step) of a PEFT run's delta checkpoint composed with its base: the
  base the checkpoint names (or `base_path`), refused unless its fingerprint matches."""
  saved, where = restore.saved_custom_metadata(path, step)
  identity = saved.get(frozen_base.METADATA_KEY) or {}
  base_path = base_path or identity.get("path")
  if not base_path and identity.get("initial_params"):
    raise ValueError(f"checkpoint {where} was trained on the base {identity['initial_params']}"
                     f" given as initial_params: name that base's checkpoint in "
                     f"evaluate.peft_base_path")
  base = frozen_base.load(model, mesh, rules, path=base_path, seed=identity.get("seed") or 0)
  frozen_base.check_same_base(saved, base, where)
  abstract, _ = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  delta, step = restore.restore_params(path, model.split_params(abstract)[1], step)
  return model.join_params(base.frozen, delta), step


@gin.configurable
def evaluate(model_dir: str = gin.REQUIRED, *, model: ModelKind = gin.REQUIRED,
             evaluation: evaluation_lib.Evaluation = gin.REQUIRED,
             checkpoint_path: str | None = None, checkpoint_step: int | None = None,
             untrained: bool = False, seed: int = 0, mesh=None, rules=None,
             peft_base_path: str | None = None) -> dict:
  """Evaluates the checkpoint in `checkpoint_path` (default MODEL_DIR), or with
  `untrained=True` a freshly initialised model; writes MODEL_DIR/eval/<name>/.

  checkpoint_path: a run of ours (its newest step, or `checkpoint_step`), a HuggingFace
  directory or a .gguf file (trainer.initial_checkpoint), checked against `model`'s config
  before anything is loaded; a published checkpoint is reported as step 0.
  With a PEFT method on `model`, a run of ours is a delta checkpoint: it is composed with
  the base it records (or `peft_base_path`), after checking that base's fingerprint.
  """
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  abstract, shardings = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  if model.peft is not None and not untrained:
    params, step = delta_on_base(model, checkpoint_path or model_dir, checkpoint_step, mesh,
                                 rules, peft_base_path)
  elif untrained:
    params, step = initial_params(model, shardings, mesh, rules, seed), 0
  elif checkpoint_path and initial_checkpoint.kind(checkpoint_path) != initial_checkpoint.ORBAX:
    params = initial_checkpoint.load(checkpoint_path, model.config, abstract, shardings)
    step = 0
  else:
    params, step = restore.restore_params(checkpoint_path or model_dir, abstract,
                                          checkpoint_step)
  results = evaluation.run(model, params, shardings, mesh, rules)
  evaluation.write(results, model_dir, step)
  print(evaluation_lib.markdown_table(results), flush=True)
  return results
