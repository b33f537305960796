"""The input-pipeline benchmark returns consistent figures (tiny run)."""
from benchmarks import input_pipeline


def test_measure_one_reports_rates_and_truncation():
  result = input_pipeline.measure_one("instruct_suite_heldout_nli", pack=True,
                                      batch_size=8, batches=3)
  assert result["examples_per_s"] > 0 and result["tokens_per_s"] > result["examples_per_s"]
  assert result["examples_per_batch"] >= 8  # packing puts several examples in a row
  assert set(result["truncated_fraction"]) == {"inputs", "targets"}
  assert result["examples_read"] > 0
