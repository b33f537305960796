"""Zero-shot chain-of-thought answer extraction and the self-consistency majority vote."""
import seqio

import tasks  # noqa: F401  (registers the tasks)
from tasks import templates
from trainer import inference, prompting

TASK = "suite_word_category"


def test_zero_shot_cot_task_extracts_the_answer_from_the_generation():
  zscot = seqio.get_mixture_or_task(
      prompting.task_for(TASK, prompting.PromptStrategy("zero_shot_cot")))
  extract = lambda text: zscot.postprocess_fn(text.encode(), example={}, is_target=False)
  phrase = templates.ANSWER_PHRASE
  assert extract(f"Cats purr and hunt mice. {phrase} animal.") == "animal"
  # The last answer phrase counts: a model may restate itself.
  assert extract(f"{phrase} plant. No, wait. {phrase} tool") == "tool"
  # No answer phrase: the generation is the answer (a model that answers directly).
  assert extract("  animal \n") == "animal"
  # An answer phrase with nothing after it is an extraction failure: empty.
  assert extract(f"Hmm. {phrase}") == ""
  # The metric compares the extracted answer with the target.
  metric = zscot.metric_fns[0]
  assert metric(["animal", "tool"], [extract(f"{phrase} Animal."), extract("fruit")]) == {
      "exact_match": 50.0}


def test_majority_vote_takes_the_most_frequent_answer():
  assert inference.majority_vote(["7", "5", "5", "7", "5"]) == 1
  # Case and spacing do not split a vote.
  assert inference.majority_vote(["Paris", "london", "paris ", "London", " PARIS"]) == 0


def test_majority_vote_ties_go_to_the_answer_seen_first():
  assert inference.majority_vote(["b", "a", "a", "b"]) == 0
  assert inference.majority_vote(["c", "a", "b"]) == 0


def test_majority_vote_ignores_extraction_failures():
  # Three failed extractions do not outvote one real answer.
  assert inference.majority_vote(["", "", "42", ""]) == 2
  assert inference.majority_vote(["", "", ""]) == 0
