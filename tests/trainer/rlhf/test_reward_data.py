"""Comparison format, JSONL loading (ranked and pairwise), bad input, and the labeler."""
import json

import numpy as np
import pytest

from tasks import comparisons, vocab
from trainer.rlhf import batches, reward_loop


def write(tmp_path, rows):
  path = tmp_path / "c.jsonl"
  path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
  return path


def test_loads_ranked_and_pairs_and_counts_skipped(tmp_path):
  path = write(tmp_path, [
      {"prompt": "p", "responses": ["a", "b", "c"], "ranks": [1, 0, 1], "task": "x"},
      {"prompt": "p", "chosen": "good", "rejected": "bad"},
      {"prompt": "p", "responses": ["only"], "ranks": [0]},
      {"prompt": "p", "responses": ["a", "b"], "ranks": [2, 2]},
  ])
  loaded, skipped = comparisons.read_jsonl(path)
  assert len(loaded) == 2
  assert loaded[0].pairs() == [(1, 0), (1, 2)]  # the tie between 0 and 2 is dropped
  assert loaded[0].meta == {"task": "x"}
  assert loaded[1].responses == ("good", "bad") and loaded[1].pairs() == [(0, 1)]
  assert skipped.fewer_than_two_responses == 1 and skipped.only_ties == 1


@pytest.mark.parametrize("row,message", [
    ({"responses": ["a", "b"], "ranks": [0, 1]}, "prompt"),
    ({"prompt": "p", "responses": ["a", "b"], "ranks": [0]}, "ranks"),
    ({"prompt": "p", "chosen": "a"}, "rejected"),
    ({"prompt": "p", "responses": list("abcdefghij"), "ranks": list(range(10))}, "at most 9"),
])
def test_malformed_rows_name_file_line_and_field(tmp_path, row, message):
  path = write(tmp_path, [{"prompt": "p", "chosen": "a", "rejected": "b"}, row])
  with pytest.raises(ValueError, match=message) as error:
    comparisons.read_jsonl(path)
  assert f"{path}:2" in str(error.value)


def test_round_trip(tmp_path):
  original = comparisons.Comparison("q", ("x", "y", "z"), (0, 2, 1), {"seed": 3})
  comparisons.write_jsonl(tmp_path / "out.jsonl", [original])
  loaded, _ = comparisons.read_jsonl(tmp_path / "out.jsonl")
  assert loaded == [original] and loaded[0].meta == {"seed": 3}


def test_labeler_rubric():
  prompt = "Is the review positive?\nOPTIONS:\n- yes\n- no"
  right = comparisons.label(prompt, "yes", "yes", choices=["yes", "no"])
  assert right == {"correct": 1.0, "helpful": 1.0, "honest": 1.0, "harmless": 1.0, "total": 4.0}
  both = comparisons.label(prompt, "yes no", "yes", choices=["yes", "no"])
  assert both["correct"] == 0 and both["honest"] == 0
  cut_off = comparisons.label("What is 2 plus 3?", "5", "5", finished=False)
  assert cut_off["helpful"] == 0 and cut_off["total"] == 3.0
  rambling = comparisons.label("What is 2 plus 3?", "5 5 5", "5")
  assert rambling["harmless"] == 0 and rambling["honest"] == 0
  copy = comparisons.label("please tell me what is the sum of two and three now", 
                           "please tell me what is the sum of two and", "5")
  assert copy["harmless"] == 0


def test_rank_responses_ties_share_a_rank():
  c = comparisons.rank_responses("What is 2 plus 3?", ["5", "6", "5", ""],
                                 [True, True, True, True], "5")
  assert c.ranks[0] == c.ranks[2] == 0 and c.ranks[1] < c.ranks[3]
  assert c.meta["labeler_scores"][0] == 4.0


def test_reward_model_trains_on_the_sampled_ids_when_a_row_has_them():
  vocabulary = vocab.default_vocabulary()
  text = comparisons.Comparison("q", ("ab", "cd"), (0, 1))
  # "ab" spelled letter by letter: what a sampler may emit, not what encoding "ab" gives.
  spelled = [vocabulary.encode("a")[-1], vocabulary.encode("b")[-1], vocabulary.eos_id]
  sampled = comparisons.Comparison("q", ("ab", "cd"), (0, 1), {
      "response_ids": [spelled, list(vocabulary.encode("cd"))]})
  arrays = reward_loop.comparison_arrays([text, sampled], vocabulary, 8, 6, 2)
  assert arrays["responses"][1, 0].tolist() == spelled + [0, 0, 0]
  assert arrays["responses"][0, 0].tolist() == batches.encode_texts(vocabulary, ["ab"], 6)[0].tolist()
  bad = comparisons.Comparison("q", ("ab", "cd"), (0, 1), {"response_ids": [[5], [0]]})
  with pytest.raises(ValueError, match="f.jsonl row 2: field 'response_ids'"):
    reward_loop.comparison_arrays([text, bad], vocabulary, 8, 6, 2, "f.jsonl")


def test_pair_accuracy_by_kind_and_normalisation_responses():
  with_demo = comparisons.Comparison("q", ("ref", "x", "y"), (0, 1, 2),
                                     {"demonstration_index": 0, "demonstration": "ref"})
  samples_only = comparisons.Comparison("q", ("x", "y"), (1, 0), {"demonstration": "ref"})
  rewards = np.array([[3.0, 1.0, 2.0], [0.0, 1.0, 9.0]])
  accuracy = reward_loop.pair_accuracy(rewards, [with_demo, samples_only])
  # demonstration pairs: ref>x right, ref>y right; sample pairs: x>y wrong, y>x right.
  assert accuracy == {"all": 0.75, "with_demonstration": 1.0, "between_samples": 0.5}
  vocabulary = vocab.default_vocabulary()
  no_demo = comparisons.Comparison("q", ("worse", "best"), (1, 0))
  got = reward_loop.normalization_responses([samples_only, no_demo], vocabulary, 6)
  assert got.shape == (2, 1, 6)
  assert got[:, 0].tolist() == batches.encode_texts(vocabulary, ["ref", "best"], 6).tolist()
