"""Super-NaturalInstructions task files (fixtures written for these tests)."""
import pathlib

import pytest
import seqio

from tasks import metrics
from tasks import niv2
from tasks import stats
from tasks import vocab
from tasks.json_text import BadDataError

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def test_encoding_golden_definition_and_two_positive_examples():
  task = niv2.load_task(FIXTURES / "niv2/task001_opposites.json")
  assert task.name == "task001_opposites" and len(task.instances) == 8
  assert niv2.encode(task, "open", 1024, vocab.count_tokens) == (
      "Definition: Given a word, write a word that means the opposite. Answer with one word."
      "\n\nPositive Example 1 -\nInput: hot\nOutput: cold\n\n"
      "Positive Example 2 -\nInput: early\nOutput: late\n\n"
      "Now complete the following example -\nInput: open\nOutput:")


def test_positive_examples_are_added_only_while_they_fit():
  task = niv2.load_task(FIXTURES / "niv2/task001_opposites.json")
  bare = niv2.encode(task, "open", 10, vocab.count_tokens)
  assert "Positive Example" not in bare
  one_fits = vocab.count_tokens(niv2.encode(task, "open", 1024, vocab.count_tokens,
                                            num_positive=1))
  assert niv2.encode(task, "open", one_fits, vocab.count_tokens).count("Positive Example") == 1


def test_registered_tasks_keep_all_references_and_count_empty_targets():
  names = niv2.register_directory(FIXTURES / "niv2", prefix="nitest")
  assert names == ["nitest_task001_opposites", "nitest_task002_vowels"]
  opposites = seqio.get_mixture_or_task(names[0])
  rows = list(opposites.get_dataset(None, split="test", shuffle=False).as_numpy_iterator())
  assert [r["references"].tolist() for r in rows] == [[b"closed", b"shut"], [b"dry"],
                                                      [b"dark", b"heavy"], [b"down"]]
  assert rows[0]["targets_pretokenized"] == b"closed"
  targets = [opposites.postprocess_fn(r["targets_pretokenized"], example=r, is_target=True)
             for r in rows]
  scores = metrics.exact_match(targets, ["shut", "dry", "light", "up"])
  assert scores["exact_match"] == 50.0
  vowels = seqio.get_mixture_or_task(names[1])
  rows = list(vowels.get_dataset(None, split="test", shuffle=False).as_numpy_iterator())
  assert len(rows) == 1  # "sky" has an empty reference and is skipped, counted
  assert stats.counts(names[1])[(names[1], stats.SKIP_EMPTY_TARGET)] == 1


@pytest.mark.parametrize("name,message", [
    ("task_malformed.json", r"task_malformed.json: malformed JSON at line 1"),
    ("task_missing.json", r"task_missing.json: missing field\(s\) \['Positive Examples'\]"),
    ("task_latin1.json", r"task_latin1.json: not UTF-8"),
])
def test_bad_task_files_name_file_and_field(name, message):
  with pytest.raises(BadDataError, match=message):
    niv2.load_task(FIXTURES / "niv2_bad" / name)


def test_rouge_l_takes_the_best_reference():
  scores = metrics.rouge_l([["the cat sat", "a dog ran"]], ["a dog ran"])
  assert scores["rougeL"] == pytest.approx(100.0)
