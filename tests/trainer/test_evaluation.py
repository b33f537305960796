"""Evaluation: checkpoint -> seqio Evaluator metrics + rank classification -> written results;
aggregation; and the bad inputs (mismatched checkpoint, no metric_fns, empty split, long
prompts)."""
import dataclasses
import json
import os

import jax
import numpy as np
import optax
import pytest
import seqio

import tasks  # registers the suite  # pylint: disable=unused-import
from tasks import features
from tests.model_configs import TINY_T5, model_for, module_for, random_batch
from trainer import checkpoints, eval_stage, evaluation, partitioning, prompting, train_state

RULES = partitioning.logical_axis_rules()
SUITE_T5 = dataclasses.replace(TINY_T5, vocab_size=2048)  # the suite's vocabulary
TASK = "suite_word_category"  # 14 validation examples with 3-4 answer choices
LENGTHS = {"inputs": 24, "targets": 6}  # short on purpose: prompts get truncated


def save_checkpoint(model_dir, config, mesh, set_params=None):
  """A step-7 checkpoint of freshly initialised parameters, or of `set_params(params)`."""
  module = module_for(config)
  example = random_batch(config)
  _, shardings = train_state.state_shardings(module, optax.adam(1e-3), example, mesh, RULES)
  state = train_state.create_train_state(module, optax.adam(1e-3), example, shardings, mesh,
                                         RULES, seed=0)
  if set_params is not None:
    numpy_params = jax.tree.map(np.array, state.params)  # writable copies
    state = state.replace(params=jax.tree.map(
        lambda new, old: jax.device_put(new.astype(old.dtype), old.sharding),
        set_params(numpy_params), state.params))
  saver = checkpoints.Checkpoints(os.path.join(model_dir, "checkpoints"), save_every=1)
  saver.save(7, state)
  saver.close()
  return state


ANSWER = "instrument"


def always_one_answer(params, vocabulary):
  """T5 parameters that read nothing but the current decoder token: attention and MLP
  outputs are zero, so the logits come from that token's embedding alone. Embeddings are
  one-hot: the start token (0) predicts ANSWER's token, every other token predicts EOS.
  Greedy decoding therefore writes ANSWER for every input, and rank classification, where
  every choice is one token + EOS, scores ANSWER highest for every input."""
  (answer_id,) = vocabulary.encode(ANSWER)
  decoder = params["decoder"]
  for layer in decoder["layers"].values():
    for block in ("self_attention", "encoder_decoder_attention"):
      layer[block]["out"]["kernel"][:] = 0
    layer["mlp"]["wo"]["kernel"][:] = 0
  embedding = params["token_embedder"]["embedding"]
  embedding[:] = 0
  embedding[:, 1] = 1.0  # any token but the start token
  embedding[0] = 0
  embedding[0, 0] = 1.0
  logits = decoder["logits_dense"]["kernel"]
  logits[:] = 0
  logits[0, answer_id] = 10.0
  logits[1, vocabulary.eos_id] = 10.0
  return params


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("run"))
  vocabulary = seqio.get_mixture_or_task(TASK).output_features["targets"].vocabulary
  save_checkpoint(model_dir, SUITE_T5, partitioning.make_mesh(),
                  lambda params: always_one_answer(params, vocabulary))
  return model_dir


def test_checkpoint_to_written_results(trained_dir):
  ev = evaluation.Evaluation("small", TASK, LENGTHS, batch_size=8, num_examples=8)
  results = eval_stage.evaluate(trained_dir, model=model_for(SUITE_T5), evaluation=ev,
                                mesh=partitioning.make_mesh())
  out_dir = os.path.join(trained_dir, "eval", "small")
  written = json.load(open(os.path.join(out_dir, "results.json")))
  assert written["step"] == 7
  task_metrics = written["tasks"][TASK]
  rows = list(seqio.get_mixture_or_task(TASK).get_dataset(
      LENGTHS, split="validation", shuffle=False).take(8).as_numpy_iterator())
  targets = [r["targets_pretokenized"].decode() for r in rows]
  # The 8 targets: vehicle, instrument, vegetable, color, instrument, animal, tool and an
  # inverted-template row (zebra) without choices, which rank classification skips.
  assert (targets.count(ANSWER), sum(len(r["choices"]) > 0 for r in rows)) == (2, 7)
  assert task_metrics == {"exact_match": pytest.approx(100 * 2 / 8),
                          "rank_accuracy": pytest.approx(100 * 2 / 7)}
  assert written["clusters"]["topic"] == task_metrics == written["overall"]
  # A 24-token input limit cuts these prompts; the cut is counted, not hidden.
  assert written["truncated"][f"{TASK} truncated inputs"] > 0
  table = open(os.path.join(out_dir, "results.md")).read()
  assert f"| task {TASK} |" in table and "| cluster topic |" in table
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(out_dir))
  assert results["tasks"] == written["tasks"]
  with open(os.path.join(out_dir, "predictions.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert len(rows) == 8 and {r["task"] for r in rows} == {TASK}
  assert all(set(r) == {"task", "input", "target", "prediction", "score"} for r in rows)
  assert all(r["input"] and r["target"] and isinstance(r["prediction"], str) for r in rows)
  # The per-example scores average to the task's figure.
  assert np.mean([r["score"]["exact_match"] for r in rows]) == pytest.approx(
      task_metrics["exact_match"])


def test_checkpoint_of_another_config_names_the_parameters(trained_dir):
  wider = dataclasses.replace(SUITE_T5, mlp_dim=96)
  ev = evaluation.Evaluation("small", TASK, LENGTHS, batch_size=8, num_examples=8)
  with pytest.raises(checkpoints.IncompatibleCheckpointError, match=r"mlp/wi_0/kernel"):
    eval_stage.evaluate(trained_dir, model=model_for(wider), evaluation=ev,
                        mesh=partitioning.make_mesh())


def test_task_without_metric_fns_is_refused():
  name = "test_eval_no_metrics"
  if name not in seqio.TaskRegistry.names():
    source = seqio.get_mixture_or_task(TASK).source
    seqio.TaskRegistry.add(name, source=source, output_features=features.output_features(),
                           preprocessors=features.preprocessors(name))
  with pytest.raises(ValueError, match="test_eval_no_metrics.*no metric_fns"):
    evaluation.Evaluation("x", name, LENGTHS)


def test_empty_split_is_refused():
  name = "test_eval_empty_split"
  if name not in seqio.TaskRegistry.names():
    seqio.TaskRegistry.add(
        name, source=seqio.FunctionDataSource(
            lambda split, shuffle_files, seed=None: features.dataset_from_examples([]),
            splits=["validation"]),
        output_features=features.output_features(),
        preprocessors=features.preprocessors(name), metric_fns=[tasks.metrics.exact_match])
  ev = evaluation.Evaluation("x", name, LENGTHS, batch_size=8)
  with pytest.raises(ValueError, match="test_eval_empty_split.*no examples in split"):
    ev.run(model_for(SUITE_T5), None, None, partitioning.make_mesh(), RULES)


def test_aggregation_means_tasks_within_clusters_then_clusters():
  results = evaluation.aggregate({
      "suite_antonym": {"exact_match": 10.0},        # word_relations
      "suite_synonym": {"exact_match": 30.0},        # word_relations
      "suite_word_count": {"exact_match": 80.0, "rouge1": 60.0, "rougeL": 50.0},  # counting
  })
  assert results["clusters"]["word_relations"] == {"exact_match": 20.0}
  assert results["clusters"]["counting"] == {"exact_match": 80.0, "rouge1": 60.0,
                                             "rougeL": 50.0}
  assert results["overall"] == {"exact_match": 50.0, "rouge1": 60.0, "rougeL": 50.0}
  table = evaluation.markdown_table(results)
  assert "| | exact_match | rouge1 | rougeL |" in table
  assert "| cluster word_relations | 20.00 |  |  |" in table
  assert "| overall | 50.00 | 60.00 | 50.00 |" in table


def test_strategies_pick_task_variants():
  assert prompting.task_for("suite_word_problem", prompting.PromptStrategy("few_shot")) == \
      "suite_word_problem_fs"
  assert prompting.task_for("suite_word_problem", prompting.PromptStrategy("few_shot_cot")) \
      == "suite_word_problem_fs_cot"
  assert prompting.task_for("suite_word_category",
                            prompting.PromptStrategy("few_shot_cot")) is None
  zscot = prompting.task_for("suite_word_category", prompting.PromptStrategy("zero_shot_cot"))
  example = next(seqio.get_mixture_or_task(zscot).get_dataset(
      LENGTHS, split="validation", shuffle=False).as_numpy_iterator())
  assert example["inputs_pretokenized"].decode().endswith(prompting.STEP_BY_STEP_CUE)
  assert prompting.cluster_of(zscot) == "topic"
  heldout = evaluation.eval_task_names("instruct_suite_heldout_nli")
  assert heldout and {prompting.cluster_of(t) for t in heldout} == {"nli"}
  with pytest.raises(ValueError, match="neither a registered task nor a mixture"):
    evaluation.eval_task_names("no_such_task")


def test_prediction_rows_score_each_example_alone():
  task = seqio.get_mixture_or_task(TASK)
  dataset = task.get_dataset({"inputs": 64, "targets": 8}, split="validation",
                             shuffle=False).take(2)
  first = next(dataset.as_numpy_iterator())
  rows = evaluation.prediction_rows(TASK, dataset, [first["targets"].tolist(), [5, 6, 7]])
  assert rows[0]["input"] == first["inputs_pretokenized"].decode()
  assert rows[0]["prediction"] == rows[0]["target"] == first["targets_pretokenized"].decode()
  assert [r["score"] for r in rows] == [{"exact_match": 100.0}, {"exact_match": 0.0}]
