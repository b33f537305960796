"""`python -m tasks list` / `show`, what a researcher runs first."""
import json

from tasks import __main__ as cli
from tasks import suite


def test_list_json_rows(capsys):
  assert cli.main(["list", "--json"]) == 0
  rows = json.loads(capsys.readouterr().out)
  by_name = {r["name"]: r for r in rows}
  row = by_name["suite_review_sentiment"]
  assert set(row) >= {"name", "cluster", "templates", "inverted_templates", "splits"}
  assert row["cluster"] == "sentiment" and row["templates"] == 7
  assert row["inverted_templates"] == 2
  assert row["splits"] == {"train": 2500, "validation": 100, "test": 100}
  assert by_name["flan_sst2"]["splits"]["train"] == 67349
  mixture = by_name["instruct_suite"]
  assert mixture["kind"] == "mixture" and mixture["tasks"] == len(suite.TASK_TYPES)
  assert set(mixture["cluster"].split(",")) == set(suite.CLUSTERS)


def test_show_prints_rendered_examples_with_token_lengths(capsys):
  assert cli.main(["show", "suite_largest_number", "-n", "2"]) == 0
  out = capsys.readouterr().out
  assert out.count("=== suite_largest_number [validation] example") == 2
  assert "tokens" in out and "--- targets:" in out


def test_show_unknown_name_is_an_error(capsys):
  assert cli.main(["show", "no_such_task"]) == 2
  assert "no_such_task" in capsys.readouterr().err
