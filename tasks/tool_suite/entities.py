"""Made-up organisations and their founders, generated from a fixed seed, whose facts
exist only in the shipped collection `tasks/data/tool_suite/entities.jsonl`.

Each organisation (with its founder) belongs to one split, so questions of the validation
and test splits ask about entities that no training example mentions. Names are built
from syllables and checked against the word lists of the instruction suite.
"""
import dataclasses
import functools
import json
import pathlib
import random

from tasks.suite import words

COLLECTION_PATH = (pathlib.Path(__file__).resolve().parent.parent / "data" / "tool_suite"
                   / "entities.jsonl")
SEED = 20261201
SPLIT_COUNTS = {"train": 200, "validation": 50, "test": 50}
# Passages in a RAG training input: the gold documents among distractors.
PASSAGES = 4
# tools/retrieval/prompts.py builds the same prompt from retrieved documents at evaluation
# (tasks/ may not import tools/; tests/tools/retrieval checks that the two agree).
RAG_INSTRUCTION = ("Answer the question using the passages below. Cite the passages you "
                   "use by their number, like [1].")

_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gl", "h", "k", "l", "m", "n", "p", "qu",
           "r", "s", "st", "t", "th", "v", "w", "z")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ou")
_CODAS = ("", "", "l", "n", "r", "s", "th", "x", "m")
_KINDS = ("Institute", "Works", "Guild", "Company", "Society", "Foundry", "Press", "Academy")
_FIELDS = {"Institute": "research", "Works": "ironware", "Guild": "weaving",
           "Company": "shipping", "Society": "astronomy", "Foundry": "bell casting",
           "Press": "printing", "Academy": "music"}
_OCCUPATIONS = ("glassmaker", "surveyor", "merchant", "engineer", "weaver", "astronomer",
                "printer", "composer", "chemist", "cartographer")


@dataclasses.dataclass(frozen=True)
class Organisation:
  name: str
  kind: str
  city: str
  founded: int
  founder: "Person"
  split: str

  @property
  def doc_id(self) -> str:
    return f"org-{_slug(self.name)}"

  def document(self) -> dict:
    return {"id": self.doc_id, "title": self.name,
            "text": f"The {self.name} is {_a(_FIELDS[self.kind])} {self.kind.lower()} based in "
                    f"{self.city}. It was founded in {self.founded} by {self.founder.name}."}


@dataclasses.dataclass(frozen=True)
class Person:
  name: str
  occupation: str
  born: int
  birthplace: str

  @property
  def doc_id(self) -> str:
    return f"person-{_slug(self.name)}"

  def document(self) -> dict:
    return {"id": self.doc_id, "title": self.name,
            "text": f"{self.name} was {_a(self.occupation)} born in {self.born} in "
                    f"{self.birthplace}."}


def _a(noun: str) -> str:
  return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _slug(name: str) -> str:
  return name.lower().replace(" ", "-")


def _word(rng: random.Random, syllables: int) -> str:
  return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                 for _ in range(syllables)).capitalize()


@functools.cache
def organisations() -> tuple[Organisation, ...]:
  """Every organisation, train ones first; names never repeat or clash with a suite word."""
  rng = random.Random(SEED)
  taken = {w.lower() for name in ("names.txt", "places.txt") for w in words.lines(name)}

  def fresh(syllables: int) -> str:
    while True:
      word = _word(rng, syllables)
      if word.lower() not in taken:
        taken.add(word.lower())
        return word
  out = []
  for split, count in SPLIT_COUNTS.items():
    for _ in range(count):
      founded = rng.randint(1700, 1990)
      founder = Person(f"{fresh(2)} {fresh(2)}", rng.choice(_OCCUPATIONS),
                       founded - rng.randint(22, 64), fresh(2))
      kind = rng.choice(_KINDS)
      out.append(Organisation(f"{fresh(rng.choice((2, 3)))} {kind}", kind, fresh(2),
                              founded, founder, split))
  return tuple(out)


def in_split(split: str) -> tuple[Organisation, ...]:
  return tuple(o for o in organisations() if o.split == split)


def documents() -> list[dict]:
  """The collection: each organisation's document, then its founder's."""
  return [d for o in organisations() for d in (o.document(), o.founder.document())]


@functools.cache
def _documents_of(split: str) -> tuple[dict, ...]:
  return tuple(d for o in in_split(split) for d in (o.document(), o.founder.document()))


def numbered_passages(rng: random.Random, gold: list[dict], split: str) -> dict:
  """The gold documents among distractors of the same split (so no held-out document
  reaches a training input), numbered "[1] title: text", and the gold ones' numbers."""
  gold_ids = [d["id"] for d in gold]
  pool = [d for d in _documents_of(split) if d["id"] not in gold_ids]
  chosen = rng.sample(pool, PASSAGES - len(gold)) + list(gold)
  rng.shuffle(chosen)
  numbers = sorted(chosen.index(d) + 1 for d in gold)
  return {"passages": "\n".join(f"[{n}] {d['title']}: {d['text']}"
                                for n, d in enumerate(chosen, 1)),
          "citations": "".join(f"[{n}]" for n in numbers)}


@functools.cache
def documents_by_id() -> dict[str, dict]:
  return {d["id"]: d for d in documents()}


def collection_text() -> str:
  return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents())


def observation(document: dict) -> str:
  """What a search for the document shows: its title and text."""
  return f"{document['title']}: {document['text']}"


def main() -> None:
  """python -m tasks.tool_suite.entities: rewrites the shipped collection."""
  COLLECTION_PATH.parent.mkdir(parents=True, exist_ok=True)
  COLLECTION_PATH.write_text(collection_text(), encoding="utf-8")
  print(f"wrote {len(documents())} documents to {COLLECTION_PATH}")


if __name__ == "__main__":
  main()
