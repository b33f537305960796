"""The word lists shipped in tasks/data/words (see tasks/data/README.md)."""
import collections
import functools
import pathlib

WORDS_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "words"


def _rows(name: str) -> list[list[str]]:
  path = WORDS_DIR / name
  rows = []
  for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
    if not line.strip() or line.startswith("#"):
      continue
    row = line.split("\t")
    if any(not cell.strip() for cell in row):
      raise ValueError(f"{path}:{line_number}: empty cell in {line!r}")
    rows.append([cell.strip() for cell in row])
  return rows


@functools.cache
def table(name: str) -> tuple[tuple[str, ...], ...]:
  return tuple(tuple(row) for row in _rows(name))


@functools.cache
def pairs(name: str) -> tuple[tuple[str, str], ...]:
  return tuple((row[0], row[1]) for row in _rows(name))


@functools.cache
def lines(name: str) -> tuple[str, ...]:
  return tuple(row[0] for row in _rows(name))


@functools.cache
def by_label(name: str) -> dict[str, tuple[str, ...]]:
  """word<TAB>label rows grouped by label, in file order."""
  groups = collections.defaultdict(list)
  for word, label in pairs(name):
    groups[label].append(word)
  return {label: tuple(words) for label, words in groups.items()}
