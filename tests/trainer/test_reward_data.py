"""Comparison format, JSONL loading (ranked and pairwise), bad input, and the labeler."""
import json

import pytest

from tasks import comparisons


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
