"""Pairs from comparison JSONL: K-way rankings expand to their strictly ordered pairs, the
sampled ids are kept, rows without a pair are skipped and counted, a file without any
pair fails naming its rows."""
import json

import numpy as np
import pytest

from tasks import vocab as vocab_lib
from trainer.rlhf.dpo import pairs

VOCAB = vocab_lib.default_vocabulary()


def write(path, rows):
  path.write_text("".join(json.dumps(row) + "\n" for row in rows))
  return path


def test_rankings_expand_to_their_strict_pairs_and_keep_sampled_ids(tmp_path):
  path = write(tmp_path / "c.jsonl", [
      {"prompt": "p", "responses": ["a", "b", "c"], "ranks": [1, 0, 1],
       "response_ids": [[7, 8, 1], [9, 1], [10, 11, 12]]},
      {"prompt": "q", "chosen": "yes", "rejected": "no"},
      {"prompt": "r", "responses": ["x"], "ranks": [0]},
      {"prompt": "s", "responses": ["x", "y"], "ranks": [2, 2]}])
  arrays, counts = pairs.read_pairs(path, VOCAB, prompt_length=8, response_length=4)
  assert counts == {"comparisons": 2, "pairs": 3, "skipped_fewer_than_two": 1,
                    "skipped_only_ties": 1}
  # b (rank 0) beats a and c; a and c tie, so that pair is dropped.
  np.testing.assert_array_equal(arrays["chosen"][:2], [[9, 1, 0, 0], [9, 1, 0, 0]])
  np.testing.assert_array_equal(arrays["rejected"][:2], [[7, 8, 1, 0], [10, 11, 12, 0]])
  expected = [list(VOCAB.encode(t)) + [VOCAB.eos_id] for t in ("yes", "no")]
  assert arrays["chosen"][2][:len(expected[0])].tolist() == expected[0]
  assert arrays["rejected"][2][:len(expected[1])].tolist() == expected[1]
  assert arrays["prompts"].shape == (3, 8)
  np.testing.assert_array_equal(arrays["prompts"][0], arrays["prompts"][1])


def test_a_file_without_any_pair_names_its_rows(tmp_path):
  path = write(tmp_path / "c.jsonl", [{"prompt": "r", "responses": ["x"], "ranks": [0]},
                                      {"prompt": "s", "responses": ["x", "y"], "ranks": [1, 1]}])
  with pytest.raises(ValueError, match=r"no preference pair.*line 1: 1 response\(s\); "
                                       r"line 2: all 2 responses tied"):
    pairs.read_pairs(path, VOCAB, 8, 4)
