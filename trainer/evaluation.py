"""Evaluation shared by eval.py and the training loop: seqio Evaluators running the tasks'
metric_fns on generated text, T0-style rank classification where examples carry answer
choices, aggregation per task / cluster / overall, and the written results.

Aggregation: a cluster's figure is the mean over its tasks; "overall" is the mean over
clusters (FLAN reports held-out clusters, so a cluster with many task types does not
outweigh one with few).
"""
import json
import os

import gin
import jax
import numpy as np
import seqio
import tensorflow_datasets as tfds
from clu import metric_writers

from models.model_kinds import ModelKind
from tasks import metrics as task_metrics
from tasks import stats as task_stats
from trainer import inference, prompting, run_dir, tool_strategies

ALL_HELDOUT = "heldout"  # every `instruct_suite_heldout_<cluster>` mixture
_HELDOUT_PREFIX = "instruct_suite_heldout_"


def eval_task_names(name: str) -> list[str]:
  """A task -> [it]; a mixture -> its tasks; "heldout" -> every held-out cluster's tasks."""
  if name == ALL_HELDOUT:
    import tasks  # registers the suite; pylint: disable=import-outside-toplevel
    return [t for cluster in tasks.CLUSTERS for t in eval_task_names(_HELDOUT_PREFIX + cluster)]
  try:
    provider = seqio.get_mixture_or_task(name)
  except ValueError as e:
    raise ValueError(f"evaluation: {name!r} is neither a registered task nor a mixture "
                     f"(nor {ALL_HELDOUT!r})") from e
  if isinstance(provider, seqio.Mixture):
    return sorted({t.name for t in provider.tasks})
  return [name]


def _check_task(task_name: str):
  task = seqio.get_mixture_or_task(task_name)
  if not task.metric_fns:
    raise ValueError(f"evaluation: task {task_name!r} has no metric_fns; register it with "
                     "metric_fns (see tasks/metrics.py) to evaluate it")


def _mean_by(groups: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
  out = {}
  for group, rows in groups.items():
    names = sorted({m for r in rows for m in r})
    out[group] = {m: float(np.mean([r[m] for r in rows if m in r])) for m in names}
  return out


def aggregate(per_task: dict[str, dict[str, float]]) -> dict:
  clusters: dict[str, list[dict]] = {}
  for task_name, task_metrics_ in per_task.items():
    clusters.setdefault(prompting.cluster_of(task_name), []).append(task_metrics_)
  by_cluster = _mean_by(clusters)
  return {"tasks": per_task, "clusters": by_cluster,
          "overall": _mean_by({"all": list(by_cluster.values())}).get("all", {})}


def _json_value(value):
  return value.item() if isinstance(value, np.generic) else str(value)


def prediction_rows(task_name: str, task_dataset, predicted_tokens) -> list[dict]:
  """One row per example: its input and target text, the decoded prediction, and the
  task's metrics on that example alone (over the postprocessed forms the metrics see)."""
  task = seqio.get_mixture_or_task(task_name)
  vocabulary = task.output_features["targets"].vocabulary
  rows = []
  for example, tokens in zip(tfds.as_numpy(task_dataset), predicted_tokens):
    def text(feature):
      raw = example.get(f"{feature}_pretokenized")
      return raw.decode("utf-8") if raw is not None else vocabulary.decode(
          example[feature].tolist())
    prediction = vocabulary.decode(list(tokens))
    target = task.postprocess_fn(text("targets"), example=example, is_target=True)
    answer = task.postprocess_fn(prediction, example=example, is_target=False)
    score = {}
    for metric_fn in task.predict_metric_fns:
      score.update(metric_fn([target], [answer]))
    rows.append({"task": task_name, "input": text("inputs"), "target": target,
                 "prediction": prediction, "score": score})
  return rows


def markdown_table(results: dict) -> str:
  """Rows: tasks, then clusters, then overall; columns: every metric seen."""
  rows = ([(f"task {n}", m) for n, m in sorted(results["tasks"].items())]
          + [(f"cluster {n}", m) for n, m in sorted(results["clusters"].items())]
          + [("overall", results["overall"])])
  metrics = sorted({k for _, m in rows for k in m})
  lines = ["| | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
  for label, values in rows:
    lines.append(f"| {label} | " + " | ".join(
        f"{values[k]:.2f}" if k in values else "" for k in metrics) + " |")
  return "\n".join(lines) + "\n"


@gin.configurable
class Evaluation:
  """One named evaluation: which tasks, how they are prompted and decoded.

  name: results go to MODEL_DIR/eval/<name>/ (results.json, results.md, TensorBoard).
  mixture_or_task_name: a task, a mixture, or "heldout".
  task_feature_lengths: {"inputs", "targets"}; longer prompts are truncated and counted
    (the tasks' preprocessors count them; `truncated` in results.json).
  beam_size: > 1 decodes predictions with beam search instead of greedily.
  compute_dtype: the decoding compute dtype, e.g. "bfloat16" (parameters stay float32,
    matmuls accumulate in float32); None keeps the model's. On CPUs without native bf16
    (AVX2) it is emulated and slower, so float32 is the default.
  """

  def __init__(self, name: str = "eval", mixture_or_task_name: str = gin.REQUIRED,
               task_feature_lengths: dict = gin.REQUIRED, *, split: str = "validation",
               batch_size: int = 32, num_examples: int | None = None,
               strategy: prompting.PromptStrategy = prompting.PromptStrategy(),
               rank_classification: bool = True, max_new_tokens: int | None = None,
               beam_size: int = 1, compute_dtype: str | None = None):
    self.name = name
    self.split = split
    self.batch_size = batch_size
    self.num_examples = num_examples
    self.strategy = strategy
    self.rank_classification = rank_classification
    self.beam_size = beam_size
    self.compute_dtype = compute_dtype
    self.feature_lengths = dict(task_feature_lengths)
    self.max_new_tokens = max_new_tokens or self.feature_lengths["targets"]
    self.task_names = []
    for base in eval_task_names(mixture_or_task_name):
      task_name = prompting.task_for(base, strategy)
      if task_name is not None and task_name not in self.task_names:
        _check_task(task_name)
        self.task_names.append(task_name)
    if not self.task_names:
      raise ValueError(f"evaluation {name!r}: no task of {mixture_or_task_name!r} has the "
                       f"format that strategy {strategy.name!r} needs")
    self._evaluators: dict[tuple[str, type], seqio.Evaluator] = {}
    self._model: inference.InferenceModel | None = None
    self.predictions: list[dict] = []  # the last run's per-example rows (prediction_rows)
    self.traces: list[dict] = []  # the last run's tool traces (rag / pal / react strategies)

  def _evaluator(self, task_name: str, model: ModelKind) -> seqio.Evaluator:
    converter = model.eval_feature_converter()
    key = (task_name, type(converter))
    if key not in self._evaluators:
      evaluator = seqio.Evaluator(
          task_name, converter,
          eval_split=self.split, sequence_length=self.feature_lengths,
          num_examples=self.num_examples, async_compute_metrics=False)
      cached = evaluator.cached_task_datasets.get(task_name)
      if cached is None or int(cached.reduce(0, lambda count, _: count + 1)) == 0:
        raise ValueError(f"evaluation {self.name!r}: task {task_name!r} has no examples in "
                         f"split {self.split!r}")
      self._evaluators[key] = evaluator
    return self._evaluators[key]

  def _predict_fn(self, model: inference.InferenceModel, task_name: str):
    if self.strategy.name == "self_consistency":
      task = seqio.get_mixture_or_task(task_name)
      return model.self_consistency_predict_fn(
          task.output_features["targets"].vocabulary, task_metrics.postprocess_for(cot=True),
          self.strategy.num_samples, self.strategy.temperature)
    return model.predict_fn()

  def eos_id(self) -> int:
    """Where decoding stops: the EOS of the vocabulary the prompts are in (a chat model's
    end of turn, `<|im_end|>` for SmolLM2), the same for every task."""
    if self.strategy.chat is not None:
      return self.strategy.chat.vocabulary.eos_id
    ids = {seqio.get_mixture_or_task(t).output_features["targets"].vocabulary.eos_id
           for t in self.task_names}
    if len(ids) > 1:
      raise ValueError(f"evaluation {self.name!r}: its tasks end with different EOS ids "
                       f"{sorted(ids)}; evaluate them separately")
    return ids.pop()

  def _inference_model(self, model, params, param_shardings, mesh, rules):
    """The previous run's model with new parameters when nothing else changed, so the
    training loop's periodic evaluations compile their decode and score functions once."""
    previous = self._model
    if (previous is not None and previous.model is model and previous.mesh is mesh
        and previous.param_shardings is param_shardings and previous.rules == rules):
      previous.params = params
      return previous
    self._model = inference.InferenceModel(
        model, params, param_shardings, mesh, rules, self.batch_size,
        self.feature_lengths["inputs"], self.max_new_tokens, eos_id=self.eos_id(),
        beam_size=self.beam_size, compute_dtype=self.compute_dtype)
    return self._model

  def run(self, model: ModelKind, params, param_shardings, mesh, rules) -> dict:
    """Evaluates every task; returns {"tasks", "clusters", "overall", "truncated"}."""
    inference_model = self._inference_model(model, params, param_shardings, mesh, rules)
    per_task, self.predictions, self.traces = {}, [], []
    for task_name in self.task_names:
      if self.strategy.reads_examples:
        values, rows, traces = tool_strategies.evaluate_task(
            self.strategy, task_name, self.split, self.num_examples, inference_model)
        per_task[task_name] = values
        self.predictions += rows
        self.traces += traces
        continue
      evaluator = self._evaluator(task_name, model)
      metrics_future, outputs = evaluator.evaluate(
          compute_metrics=True, predict_fn=self._predict_fn(inference_model, task_name))
      self.predictions += prediction_rows(
          task_name, evaluator.cached_task_datasets[task_name],
          outputs[task_name].get(seqio.metrics.ModelOutputType.PREDICTION, ()))
      values = {k: float(getattr(v, "value", v))
                for k, v in metrics_future.result()[task_name].items()}
      if self.rank_classification:
        task = seqio.get_mixture_or_task(task_name)
        ranked = inference.rank_classification(
            inference_model, evaluator.cached_task_datasets[task_name],
            task.output_features["targets"].vocabulary, self.feature_lengths)
        values.update(ranked or {})
      per_task[task_name] = values
    results = aggregate(per_task)
    # Derived tasks (zero-shot CoT) count in their base task's preprocessor.
    counted = set(per_task) | {prompting.base_task_name(t) for t in per_task}
    results["truncated"] = {f"{task} {reason}": n for (task, reason), n
                            in task_stats.counts().items()
                            if task in counted and reason.startswith(task_stats.TRUNCATED)}
    return results

  def write(self, results: dict, model_dir: str, step: int):
    """MODEL_DIR/eval/<name>/results.json, results.md, predictions.jsonl (the last run's
    examples), traces.jsonl (a tool strategy's retrievals, programs or episodes) and
    TensorBoard scalars."""
    if jax.process_index() != 0:
      return
    out_dir = os.path.join(model_dir, "eval", self.name)
    run_dir.write_text(os.path.join(out_dir, "results.json"), json.dumps(
        {"step": step, "split": self.split, "strategy": self.strategy.name, **results},
        indent=2, sort_keys=True))
    run_dir.write_text(os.path.join(out_dir, "results.md"),
                       f"Evaluation {self.name!r} at step {step} ({self.split}, "
                       f"{self.strategy.name})\n\n" + markdown_table(results))
    run_dir.write_text(os.path.join(out_dir, "predictions.jsonl"), "".join(
        json.dumps(row, default=_json_value) + "\n" for row in self.predictions))
    if self.strategy.reads_examples:
      run_dir.write_text(os.path.join(out_dir, "traces.jsonl"), "".join(
          json.dumps(trace, default=_json_value) + "\n" for trace in self.traces))
    writer = metric_writers.SummaryWriter(out_dir)
    scalars = {f"overall/{k}": v for k, v in results["overall"].items()}
    for group in ("clusters", "tasks"):
      for name, values in results[group].items():
        scalars.update({f"{group}/{name}/{k}": v for k, v in values.items()})
    writer.write_scalars(step, scalars)
    writer.close()
