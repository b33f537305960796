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
