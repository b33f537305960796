"""The evaluation stage: restore parameters (or keep the initialisation), evaluate, write.

  python eval.py --gin_file=gin/runs/eval_heldout.gin --gin.MODEL_DIR="'/tmp/sft_tiny'"
"""
import gin

from models.model_kinds import ModelKind
from trainer import evaluation as evaluation_lib
from trainer import initial_checkpoint, partitioning, restore


def initial_params(model: ModelKind, shardings, mesh, rules, seed: int):
  """Freshly initialised parameters (the untrained baseline), directly into their shards."""
  return restore.init_params(model.module, model.init_batch(), shardings, mesh, rules, seed)


@gin.configurable
def evaluate(model_dir: str = gin.REQUIRED, *, model: ModelKind = gin.REQUIRED,
             evaluation: evaluation_lib.Evaluation = gin.REQUIRED,
             checkpoint_path: str | None = None, checkpoint_step: int | None = None,
             untrained: bool = False, seed: int = 0, mesh=None, rules=None) -> dict:
  """Evaluates the checkpoint in `checkpoint_path` (default MODEL_DIR), or with
  `untrained=True` a freshly initialised model; writes MODEL_DIR/eval/<name>/.

  checkpoint_path: a run of ours (its newest step, or `checkpoint_step`), a HuggingFace
  directory or a .gguf file (trainer.initial_checkpoint), checked against `model`'s config
  before anything is loaded; a published checkpoint is reported as step 0.
  """
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  abstract, shardings = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  if untrained:
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
