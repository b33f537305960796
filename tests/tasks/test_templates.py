"""Golden renderings of the FLAN-style template kinds, and template errors."""
import re

import pytest

from tasks import formats
from tasks import options
from tasks import render
from tasks import suite
from tasks import templates
from tasks import vocab


def test_zero_shot_with_options_golden():
  ex = render.render_example(suite.task_type("review_sentiment"), "test", 0, 0,
                             formats.ZERO_SHOT)
  assert ex == {
      "inputs": 'Classify the tone of this opinion: "The book was tiresome and messy."\n'
                "Select from the following.\n1) positive\n2) negative",
      "targets": "negative", "choices": ["positive", "negative"]}


def test_zero_shot_without_options_golden_keeps_choices_for_rank_classification():
  ex = render.render_example(suite.task_type("review_sentiment"), "test", 0, 0,
                             formats.ZERO_SHOT_NO_OPTIONS)
  assert ex["inputs"] == 'Classify the tone of this opinion: "The book was tiresome and messy."'
  assert ex["choices"] == ["positive", "negative"]


def test_no_instruction_ablation_golden_uses_dataset_name_prefix():
  ex = render.render_example(suite.task_type("review_sentiment"), "test", 0, 0,
                             formats.NO_INSTRUCTIONS)
  assert ex["inputs"] == ("review_sentiment:\nThe book was tiresome and messy.\n"
                          "Select from the following.\n1) positive\n2) negative")


@pytest.mark.parametrize("task_name", ["review_sentiment", "addition", "odd_one_out"])
def test_one_template_ablation_renders_every_example_with_the_first_direct_template(task_name):
  task = suite.task_type(task_name)
  (only,) = render.template_pool(task, formats.ONE_TEMPLATE)
  assert only == next(t for t in task.templates if not t.inverted and not t.cot)
  fixed_text = [p for p in re.split(r"\{[^}]*\}", only.input) if p.strip()]

  def uses_only(fmt, i):
    inputs = render.render_example(task, "train", i, 0, fmt)["inputs"]
    return all(p in inputs for p in fixed_text)
  assert all(uses_only(formats.ONE_TEMPLATE, i) for i in range(40))
  assert not all(uses_only(formats.ZERO_SHOT, i) for i in range(40))


def test_chain_of_thought_golden_and_answer_extraction():
  ex = render.render_example(suite.task_type("word_problem"), "test", 0, 0, formats.COT)
  assert ex["inputs"].endswith("How many shells does Elena have now?\nWork it out step by step.")
  assert ex["targets"] == ("4 bags of 11 hold 4 * 11 = 44 shells. 19 + 44 = 63. Giving away 3 "
                           "leaves 63 - 3 = 60. So the answer is 60.")
  assert templates.extract_cot_answer(ex["targets"]) == "60"


@pytest.mark.parametrize("generation,answer", [
    ("It is 4. So the answer is 5.", "5"),
    ("So the answer is no. Then: So the answer is yes.", "yes"),
    ("So the answer is it is not possible to tell.", "it is not possible to tell"),
    ("  42 ", "42"),
])
def test_extract_cot_answer(generation, answer):
  assert templates.extract_cot_answer(generation) == answer


def test_few_shot_cot_prepends_worked_train_exemplars():
  task = suite.task_type("word_problem")
  train_targets = [templates.cot_target(e["rationale"], e["answer"])
                   for e in task.examples("train")]
  shot_counts = []
  for index in range(10):
    ex = render.render_example(task, "test", index, 0, formats.FEW_SHOT_COT, vocab.count_tokens)
    zero_shot = render.render_example(task, "test", index, 0, formats.COT)
    shots = [t for t in train_targets if t in ex["inputs"]]
    # k exemplars, each its input, rationale and answer phrase; then the query without its own.
    assert 1 <= len(shots) <= formats.MAX_SHOTS
    assert ex["inputs"].count(templates.ANSWER_PHRASE) == len(shots)
    assert ex["inputs"].endswith(formats.EXEMPLAR_SEPARATOR + zero_shot["inputs"])
    assert ex["targets"] == zero_shot["targets"] and ex["targets"] not in ex["inputs"]
    shot_counts.append(len(shots))
  assert max(shot_counts) > 1
  golden = render.render_example(task, "test", 0, 0, formats.FEW_SHOT_COT, vocab.count_tokens)
  assert golden["inputs"] == (
      "Tara has 21 apples, buys 5 bags with 4 apples in each, and then gives away 18. How many "
      "apples does Tara have now?\nWork it out step by step.\n5 bags of 4 hold 5 * 4 = 20 "
      "apples. 21 + 20 = 41. Giving away 18 leaves 41 - 18 = 23. So the answer is 23.\n\n"
      "Elena has 19 shells, buys 4 bags with 11 shells in each, and then gives away 3. How many "
      "shells does Elena have now?\nWork it out step by step.")


def test_few_shot_golden():
  ex = render.render_example(suite.task_type("addition"), "test", 1, 0, formats.FEW_SHOT,
                             vocab.count_tokens)
  assert ex["inputs"] == ("Compute the sum of 953 and 411.\n1364\n\n"
                          "Compute the sum of 789 and 306.")
  assert ex["targets"] == "1095"


def test_inverted_template_turns_the_task_around():
  task = suite.task_type("review_sentiment")
  inverted = [t for t in task.templates if t.inverted][0]
  example = task.examples("test")[0]
  inputs, target = templates.render(inverted, example)
  assert example["answer"] in inputs and target == example["review"]


def test_missing_field_names_task_template_and_field():
  template = templates.Template("Is {sentence} nice?", "{answer}")
  with pytest.raises(templates.TemplateFieldError, match=r"task 'x', template 3.*'sentence'"):
    templates.render(template, {"answer": "yes"}, where="task 'x', template 3")


def test_options_layout_is_fixed_by_the_seed_and_varies_across_examples():
  task = suite.task_type("largest_number")
  a = [render.render_example(task, "test", i, 7, formats.ZERO_SHOT)["inputs"] for i in range(30)]
  b = [render.render_example(task, "test", i, 7, formats.ZERO_SHOT)["inputs"] for i in range(30)]
  assert a == b
  headers = {line for x in a for line in x.splitlines() if line in options.HEADERS}
  assert len(headers) > 2
