"""Answer options rendered into the input with a randomized header and item markers.

As in the FLAN 2022 collection the header ("OPTIONS:", "Pick one:") and the item marker
("- ", "(A) ", "i. ") vary from example to example so a model does not learn one layout;
the choice is drawn from the caller's `random.Random`, so it is fixed by the seed.
"""
import random
from typing import Callable, Sequence

HEADERS = ("OPTIONS:", "Possible answers:", "Choose one:", "Pick from:",
           "Select from the following.", "Answer with one of:", "Choices:")

_ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii")


def _letters(i: int) -> str:
  return chr(ord("A") + i)


MARKERS: tuple[Callable[[int], str], ...] = (
    lambda i: "- ",
    lambda i: "* ",
    lambda i: f"({_letters(i)}) ",
    lambda i: f"{_letters(i)}. ",
    lambda i: f"{i + 1}) ",
    lambda i: f"{_ROMAN[i]}. " if i < len(_ROMAN) else f"{i + 1}. ",
)


def render_options(options: Sequence[str], rng: random.Random) -> str:
  header = rng.choice(HEADERS)
  marker = rng.choice(MARKERS)
  items = "\n".join(marker(i) + str(option) for i, option in enumerate(options))
  return f"{header}\n{items}"
