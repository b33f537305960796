"""The evaluation stage: restore parameters (or keep the initialisation), evaluate, write.

  python eval.py --gin_file=gin/runs/eval_heldout.gin --gin.MODEL_DIR="'/tmp/sft_tiny'"
"""
import flax.linen as nn
import gin
import jax
import numpy as np

from trainer import evaluation as evaluation_lib
from trainer import param_restore, partitioning


def example_batch(module) -> dict:
  """A minimal batch that fixes the parameter shapes (they do not depend on lengths)."""
  ones = np.ones((1, 4), np.int32)
  batch = {"decoder_input_tokens": ones, "decoder_target_tokens": ones}
  if module.config.is_encoder_decoder:
    batch["encoder_input_tokens"] = ones
  return batch


def initial_params(module, shardings, mesh, rules, seed: int):
  """Freshly initialised parameters (the untrained baseline), directly into their shards."""
  def init(rng):
    return nn.unbox(module.init({"params": rng}, example_batch(module))["params"])
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    return jax.jit(init, out_shardings=shardings)(jax.random.key(seed))


@gin.configurable
def evaluate(model_dir: str = gin.REQUIRED, *, model: nn.Module = gin.REQUIRED,
             evaluation: evaluation_lib.Evaluation = gin.REQUIRED,
             checkpoint_path: str | None = None, checkpoint_step: int | None = None,
             untrained: bool = False, seed: int = 0, mesh=None, rules=None) -> dict:
  """Evaluates the checkpoint in `checkpoint_path` (default MODEL_DIR), or with
  `untrained=True` a freshly initialised model; writes MODEL_DIR/eval/<name>/."""
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  abstract, shardings = param_restore.abstract_params(module=model,
                                                      example_batch=example_batch(model),
                                                      mesh=mesh, rules=rules)
  if untrained:
    params, step = initial_params(model, shardings, mesh, rules, seed), 0
  else:
    params, step = param_restore.restore_params(checkpoint_path or model_dir, abstract,
                                                checkpoint_step)
  results = evaluation.run(model, params, shardings, mesh, rules)
  evaluation.write(results, model_dir, step)
  print(evaluation_lib.markdown_table(results), flush=True)
  return results
