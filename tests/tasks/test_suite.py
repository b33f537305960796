"""The embedded suite's shape (issue: >= 24 types, >= 8 clusters, >= 5 templates with an
inverted one) and its guarantees: disjoint splits, seeded determinism, clean few-shot."""
import pytest

from tasks import formats
from tasks import render
from tasks import suite
from tasks import templates
from tasks import vocab


def test_size_of_the_suite():
  assert len(suite.TASK_TYPES) >= 24
  assert len(suite.CLUSTERS) >= 8
  assert len({t.name for t in suite.TASK_TYPES}) == len(suite.TASK_TYPES)


@pytest.mark.parametrize("task", suite.TASK_TYPES, ids=lambda t: t.name)
def test_each_task_type(task):
  assert len(task.templates) >= 5
  assert any(t.inverted for t in task.templates)
  splits = {s: task.examples(s) for s in suite.SPLITS}
  assert all(splits.values())
  keys = {s: {task.key(e) for e in exs} for s, exs in splits.items()}
  assert not keys["train"] & keys["test"] and not keys["train"] & keys["validation"]
  assert not keys["validation"] & keys["test"]
  for example in splits["test"][:20]:
    if "options" in example:
      assert example["answer"] in example["options"]
    assert str(example["answer"]).strip()
  if task.has_cot:
    assert all(e.get("rationale") for e in splits["test"][:20])
  for example in splits["test"][:5]:  # every template names only fields examples have
    values = dict(example, cot_target=templates.cot_target(example.get("rationale", ""),
                                                           example["answer"]))
    for template in task.templates:
      inputs, target = templates.render(template, values, "OPTIONS:\n- x")
      assert inputs and target


def test_classification_types_have_options_and_multistep_types_have_rationales():
  assert sum(t.is_classification for t in suite.TASK_TYPES) >= 8
  assert sum(t.has_cot for t in suite.TASK_TYPES) >= 5


def test_same_seed_same_examples_other_seed_other_rendering():
  task = suite.task_type("odd_one_out")
  def run(seed):
    return [render.render_example(task, "validation", i, seed, formats.ZERO_SHOT)
            for i in range(40)]
  assert run(3) == run(3)
  assert run(3) != run(4)


@pytest.mark.parametrize("name", ["addition", "antonym", "largest_number", "order_nli"])
def test_few_shot_exemplars_never_contain_the_evaluated_example(name):
  task = suite.task_type(name)
  for i in range(len(task.examples("train")))[:150]:
    example = task.examples("train")[i]
    rendered = render.render_example(task, "train", i, 0, formats.FEW_SHOT, vocab.count_tokens)
    *shots, query = rendered["inputs"].split(formats.EXEMPLAR_SEPARATOR)
    for shot in shots:
      shot_input = shot.rsplit("\n", 1)[0]
      assert shot_input != query
    assert vocab.count_tokens(rendered["inputs"]) <= formats.FEW_SHOT_INPUT_TOKENS


def test_few_shot_respects_the_token_budget(monkeypatch):
  monkeypatch.setattr(formats, "FEW_SHOT_INPUT_TOKENS", 40)
  task = suite.task_type("passage_where")
  for i in range(10):
    rendered = render.render_example(task, "test", i, 0, formats.FEW_SHOT, vocab.count_tokens)
    alone = render.render_example(task, "test", i, 0, formats.ZERO_SHOT)
    assert rendered["inputs"] == alone["inputs"]  # no exemplar fits in 40 tokens
