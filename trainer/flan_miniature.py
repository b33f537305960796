"""FLAN's central experiment in miniature, as one stage.

Hold out one cluster X of the embedded suite. Train the same model twice on every other
cluster (minus clusters related to X): once with instruction templates
(`instruct_suite_without_X`), once with dataset-name prefixes instead (the FLAN ablation,
`instruct_suite_noinstr_without_X`). Evaluate both, and the untrained initialisation, on
X's tasks zero-shot with instructions. Writes MODEL_DIR/flan_miniature.{md,json}.

  python train.py --gin_file=gin/experiments/flan_miniature.gin --gin.MODEL_DIR="'/tmp/flan'"
"""
import json
import os

import gin
import jax

from models.model_kinds import ModelKind
from trainer import eval_stage, loop, partitioning, prompting, restore, run_dir
from trainer.evaluation import Evaluation

ARMS = ("instructions", "dataset_names", "untrained")
_MIXTURES = {"instructions": "instruct_suite_without_{}",
             "dataset_names": "instruct_suite_noinstr_without_{}"}


def comparison_table(held_out: str, by_arm: dict[str, dict]) -> str:
  """Rows: arms; columns: the held-out cluster's metrics, then each task's."""
  metrics = sorted({m for r in by_arm.values() for m in r["overall"]})
  task_names = sorted({t for r in by_arm.values() for t in r["tasks"]})
  columns = [("overall", m) for m in metrics] + [
      (t, m) for t in task_names for m in metrics]
  header = [f"{held_out if where == 'overall' else where} {m}" for where, m in columns]
  lines = ["| trained on | " + " | ".join(header) + " |", "|---" * (len(columns) + 1) + "|"]
  for arm, results in by_arm.items():
    cells = []
    for where, metric in columns:
      values = results["overall"] if where == "overall" else results["tasks"].get(where, {})
      cells.append(f"{values[metric]:.1f}" if metric in values else "")
    lines.append(f"| {arm} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


@gin.configurable
def flan_miniature(model_dir: str = gin.REQUIRED, *, held_out_cluster: str = gin.REQUIRED,
                   train_steps: int = gin.REQUIRED, model: ModelKind = gin.REQUIRED,
                   evaluation: Evaluation = gin.REQUIRED, mesh=None, rules=None,
                   seed: int = 0) -> dict:
  """Runs the three arms (training ones resume from their checkpoints) and compares them.

  `evaluation` must name the held-out cluster's mixture (`instruct_suite_heldout_<X>`);
  `train` takes everything else (batch size, optimizer, lengths) from gin.
  """
  evaluated_clusters = {prompting.cluster_of(t) for t in evaluation.task_names}
  if evaluated_clusters != {held_out_cluster}:
    raise ValueError(f"flan_miniature: held_out_cluster={held_out_cluster!r} but the "
                     f"evaluation covers clusters {sorted(evaluated_clusters)}; set "
                     f"Evaluation.mixture_or_task_name to 'instruct_suite_heldout_"
                     f"{held_out_cluster}'")
  model_dir = run_dir.prepare_model_dir(model_dir)
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  by_arm = {}
  for arm in ARMS:
    arm_dir = os.path.join(model_dir, arm)
    if arm == "untrained":
      _, shardings = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
      params = eval_stage.initial_params(model, shardings, mesh, rules, seed)
      step = 0
    else:
      state, _ = loop.train(arm_dir, train_steps,
                            mixture_or_task_name=_MIXTURES[arm].format(held_out_cluster),
                            model=model, mesh=mesh, rules=rules, seed=seed)
      params, step = state.params, train_steps
      shardings = jax.tree.map(lambda x: x.sharding, params)
    print(f"flan_miniature: evaluating arm {arm!r} on held-out {held_out_cluster}", flush=True)
    results = evaluation.run(model, params, shardings, mesh, rules)
    evaluation.write(results, arm_dir, step)
    by_arm[arm] = results
  table = comparison_table(held_out_cluster, by_arm)
  run_dir.write_text(os.path.join(model_dir, "flan_miniature.md"),
                     f"Held-out cluster: {held_out_cluster}; {train_steps} training steps per "
                     f"arm; zero-shot on {evaluation.split} with instructions.\n\n{table}")
  run_dir.write_text(os.path.join(model_dir, "flan_miniature.json"), json.dumps(
      {"held_out_cluster": held_out_cluster, "train_steps": train_steps, "arms": by_arm},
      indent=2, sort_keys=True))
  print(table, flush=True)
  return by_arm
