"""Preference pairs from the comparison JSONL the pipeline writes (tasks/comparisons.py):
a K-way ranking gives every pair of strictly different ranks, a {"prompt", "chosen",
"rejected"} row one pair. A row with one response or only ties gives none: it is skipped
and counted, and a file with no pair at all fails naming those rows.

Arrays (one row per pair): prompts int [N, P], chosen and rejected int [N, R], right-padded;
a response is the policy's sampled ids when the row keeps them (`response_ids`), else its
text encoded (see reward_loop.comparison_arrays).
"""
import numpy as np

from tasks import comparisons as comparisons_lib
from tasks import jsonl_source
from trainer.rlhf import reward_loop


def _rows_without_pairs(path) -> list[str]:
  """'line L: why' for each row of `path` that yields no pair."""
  described = []
  for line, row in jsonl_source.numbered_rows(path):
    if "chosen" in row or "rejected" in row:
      continue
    responses, ranks = row.get("responses", []), row.get("ranks", [])
    if len(responses) < comparisons_lib.MIN_RESPONSES:
      described.append(f"line {line}: {len(responses)} response(s)")
    elif len(set(ranks)) == 1:
      described.append(f"line {line}: all {len(responses)} responses tied")
  return described


def read_pairs(path, vocabulary, prompt_length: int, response_length: int):
  """(arrays, counts) of the pairs in the comparison file `path` (see the module
  docstring); counts: comparisons, pairs and the skipped rows by reason."""
  comparisons, skipped = comparisons_lib.read_jsonl(path)
  if not comparisons:
    rows = _rows_without_pairs(path)
    shown = "; ".join(rows[:10]) + (f"; and {len(rows) - 10} more" if len(rows) > 10 else "")
    raise ValueError(f"{path}: no preference pair: every row has fewer than 2 responses or "
                     f"only ties ({shown or 'the file is empty'})")
  if skipped.total:
    print(f"{path}: skipped {skipped.fewer_than_two_responses} comparisons with fewer than "
          f"2 responses and {skipped.only_ties} with only ties", flush=True)
  k = max(len(c.responses) for c in comparisons)
  arrays = reward_loop.comparison_arrays(comparisons, vocabulary, prompt_length,
                                         response_length, k, str(path))
  index = np.array([(i, better, worse) for i, c in enumerate(comparisons)
                    for better, worse in c.pairs()], np.int64)
  rows, better, worse = index.T
  pairs = {"prompts": arrays["prompts"][rows], "chosen": arrays["responses"][rows, better],
           "rejected": arrays["responses"][rows, worse]}
  counts = {"comparisons": len(comparisons), "pairs": len(index),
            "skipped_fewer_than_two": skipped.fewer_than_two_responses,
            "skipped_only_ties": skipped.only_ties}
  return pairs, counts
