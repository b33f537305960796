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


@pytest.mark.parametrize("task,metric_names", [
    ("suite_order_nli", ["exact_match"]), ("suite_word_problem_cot", ["exact_match"]),
    ("suite_gloss_to_word", ["exact_match", "rouge1", "rougeL"])])
def test_evaluator_scores_predictions(task, metric_names):
  evaluator = seqio.Evaluator(
      mixture_or_task_name=task, feature_converter=seqio.EncDecFeatureConverter(pack=False),
      eval_split="validation", sequence_length={"inputs": 128, "targets": 128},
      use_memory_cache=True)
  all_metrics, _ = evaluator.evaluate(compute_metrics=True,
                                      predict_fn=_perfect_then_wrong(wrong_every=4),
                                      score_fn=None)
  scores = all_metrics.result()[task]
  assert sorted(scores) == sorted(metric_names)
  for metric in metric_names:
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


def test_rouge_1_and_rouge_l_on_a_hand_computed_case():
  target = "the cat sat on the mat"
  # Unigrams: the x2, cat, on, mat shared -> P = 5/5, R = 5/6, F1 = 10/11.
  # Longest common subsequence: "the cat the" (3) -> P = 3/5, R = 3/6, F1 = 6/11.
  scrambled = "mat the on cat the"
  rouge1 = tasks.metrics.rouge_1([target, target], [scrambled, target])
  rouge_l = tasks.metrics.rouge_l([target, target], [scrambled, target])
  assert rouge1 == {"rouge1": pytest.approx((100 * 10 / 11 + 100) / 2)}
  assert rouge_l == {"rougeL": pytest.approx((100 * 6 / 11 + 100) / 2)}
  # With several references the best one counts.
  assert tasks.metrics.rouge_1([["a dog ran", target]], [scrambled]) == {
      "rouge1": pytest.approx(100 * 10 / 11)}
