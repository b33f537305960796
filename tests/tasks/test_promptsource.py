"""promptsource-format YAML (fixtures written for these tests) rendered with Jinja."""
import pathlib

import pytest
import seqio

from tasks import jsonl_source
from tasks import promptsource
from tasks import records
from tasks import stats
from tasks.json_text import BadDataError
from tasks.templates import TemplateFieldError

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
ROOT = FIXTURES / "promptsource"
RTE_ROWS = jsonl_source.read_jsonl(ROOT / "super_glue/rte/train.jsonl")


def test_load_directory_groups_templates_by_dataset():
  grouped = promptsource.load_directory(ROOT)
  assert sorted(grouped) == [("ag_news", None), ("super_glue", "rte")]
  rte = grouped[("super_glue", "rte")]
  assert [t.name for t in rte] == ["taking as given", "claim follows", "write supported claim"]
  assert rte[0].original_task and not rte[2].original_task
  assert rte[2].metrics == ("ROUGE",)


def test_golden_rendering_with_answer_choices():
  first, second, inverted = promptsource.load_directory(ROOT)[("super_glue", "rte")]
  assert promptsource.apply(first, RTE_ROWS[0]) == {
      "inputs": 'The bakery on Elm Street sells bread every morning. Taking that as given, '
                'is "Bread is sold on Elm Street." true?',
      "targets": "Yes", "choices": ["Yes", "No"]}
  rendered = promptsource.apply(second, RTE_ROWS[1])
  assert rendered["inputs"] == ("Statement: Rain stopped the match after ten minutes.\n"
                                "Claim: The match was played to the end.\n"
                                "Does the claim follows or does not follow?")
  assert (rendered["targets"], rendered["choices"]) == ("does not follow",
                                                        ["follows", "does not follow"])
  assert promptsource.apply(inverted, RTE_ROWS[0])["targets"] == "Bread is sold on Elm Street."
  assert promptsource.apply(inverted, RTE_ROWS[1]) is None  # template renders no target


def test_filters_in_templates():
  (template,) = promptsource.load_directory(ROOT)[("ag_news", None)]
  row = jsonl_source.read_jsonl(ROOT / "ag_news/train.jsonl")[0]
  rendered = promptsource.apply(template, row)
  assert rendered["inputs"].endswith(
      "Options: World politics, Sports, Business, Science and technology")
  assert rendered["targets"] == "Sports"


def test_registered_tasks_keep_choices_and_count_skipped_rows():
  templates = promptsource.load_directory(ROOT)[("super_glue", "rte")]
  source = jsonl_source.jsonl_source({"train": ROOT / "super_glue/rte/train.jsonl"})
  names = promptsource.register(templates, lambda t: source, cluster="nli", prefix="pstest")
  assert names == ["pstest_super_glue_rte_taking_as_given", "pstest_super_glue_rte_claim_follows",
                   "pstest_super_glue_rte_write_supported_claim"]
  task = seqio.get_mixture_or_task(names[0])
  rows = list(task.get_dataset({"inputs": 64, "targets": 8}, split="train", shuffle=False)
              .as_numpy_iterator())
  assert [r["targets_pretokenized"] for r in rows] == [b"Yes", b"No"]
  assert [c.decode() for c in rows[0]["choices"]] == ["Yes", "No"]
  inverted = seqio.get_mixture_or_task(names[2])
  rows = list(inverted.get_dataset(None, split="train", shuffle=False).as_numpy_iterator())
  assert len(rows) == 1
  assert stats.counts(names[2])[(names[2], records.SKIP_UNUSABLE)] == 1


def test_malformed_yaml_names_the_file():
  with pytest.raises(BadDataError, match=r"broken/templates.yaml: malformed YAML"):
    promptsource.load_file(FIXTURES / "promptsource_bad/broken/templates.yaml")


def test_missing_field_names_file_template_and_field():
  (template,) = promptsource.load_file(FIXTURES / "promptsource_bad/missing_field/templates.yaml")
  with pytest.raises(TemplateFieldError,
                     match=r"missing_field/templates.yaml: template 'typo in field'.*'premis'"):
    promptsource.apply(template, {"premise": "p", "label": 0})


def test_non_utf8_yaml_names_the_file(tmp_path):
  path = tmp_path / "templates.yaml"
  path.write_bytes("dataset: caf\xe9\n".encode("latin-1"))
  with pytest.raises(BadDataError, match=r"templates.yaml: not UTF-8"):
    promptsource.load_file(path)
