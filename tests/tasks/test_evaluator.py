"""The tasks' postprocessors and metric_fns run under seqio's Evaluator."""
import numpy as np
import pytest
import seqio

import tasks  # noqa: F401  (registers the tasks)


def _perfect_then_wrong(wrong_every: int):
  """A predict_fn that returns the target tokens, except every n-th example gets EOS only."""
  def predict(ds):
    out = []
    for i, ex in ds.as_numpy_iterator():  # the Evaluator feeds (index, features)
      tokens = ex["decoder_target_tokens"].copy()  # padded, as a model's decode returns
      if i % wrong_every == 0:
        tokens[:] = 0
        tokens[0] = 1
      out.append((i, tokens))
    return out
  return predict


@pytest.mark.parametrize("task,metric", [("suite_order_nli", "exact_match"),
                                         ("suite_word_problem_cot", "exact_match"),
                                         ("suite_gloss_to_word", "rougeL")])
def test_evaluator_scores_predictions(task, metric):
  evaluator = seqio.Evaluator(
      mixture_or_task_name=task, feature_converter=seqio.EncDecFeatureConverter(pack=False),
      eval_split="validation", sequence_length={"inputs": 128, "targets": 128},
      use_memory_cache=True)
  all_metrics, _ = evaluator.evaluate(compute_metrics=True,
                                      predict_fn=_perfect_then_wrong(wrong_every=4),
                                      score_fn=None)
  scores = all_metrics.result()[task]
  value = float(np.asarray(scores[metric]))
  assert 70.0 <= value <= 80.0, scores  # 3 of every 4 predictions are exact


def test_rank_classification_through_the_evaluator():
  task_name = "suite_order_nli_rank"
  task = seqio.get_mixture_or_task(task_name)
  rows = list(task.get_dataset(None, split="validation", shuffle=False).as_numpy_iterator())
  assert len(rows) == 3 * len(seqio.get_mixture_or_task("suite_order_nli").get_dataset(
      None, split="validation", shuffle=False))
  assert all(r["is_correct"].sum() <= 1 for r in rows)

  def score(ds):
    """A scorer that prefers the right choice, except for every 5th example."""
    out = []
    for i, ex in ds.as_numpy_iterator():
      example_index = i // 3
      right = bool(rows[i]["is_correct"])
      out.append((i, (1.0 if right else 0.0) * (-1 if example_index % 5 == 0 else 1)))
    return out

  evaluator = seqio.Evaluator(
      mixture_or_task_name=task_name,
      feature_converter=seqio.EncDecFeatureConverter(pack=False), eval_split="validation",
      sequence_length={"inputs": 128, "targets": 32}, use_memory_cache=True)
  all_metrics, _ = evaluator.evaluate(compute_metrics=True, predict_fn=None, score_fn=score)
  assert float(all_metrics.result()[task_name]["rank_accuracy"]) == pytest.approx(80.0)
