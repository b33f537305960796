"""The held-out run files: the training run never sees a task its evaluation scores."""
import pathlib

import gin
import seqio

import train  # noqa: F401  (defines run_stage, which the run files bind)

REPO_DIR = pathlib.Path(__file__).resolve().parents[2]


def _parsed_macro(gin_file: str, name: str):
  gin.clear_config()
  gin.add_config_file_search_path(str(REPO_DIR))
  try:
    gin.parse_config_file(str(REPO_DIR / gin_file))
    return gin.query_parameter(name)
  finally:
    gin.clear_config()


def test_heldout_run_files_train_on_no_task_they_evaluate():
  trained = _parsed_macro("gin/runs/sft_tiny_heldout.gin", "MIXTURE_OR_TASK_NAME/macro.value")
  evaluated = _parsed_macro("gin/runs/eval_heldout_nli.gin",
                            "Evaluation.mixture_or_task_name")
  train_tasks = {t.name for t in seqio.get_mixture_or_task(trained).tasks}
  eval_tasks = {t.name for t in seqio.get_mixture_or_task(evaluated).tasks}
  assert eval_tasks and train_tasks and not train_tasks & eval_tasks
  # Every other cluster is trained on, except the one FLAN counts as related to NLI.
  assert trained == "instruct_suite_without_nli" and evaluated == "instruct_suite_heldout_nli"
