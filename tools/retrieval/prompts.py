"""Retrieved passages in a prompt, numbered "[1] title: text", and the citations an answer
makes back to them ("... in 1873 [2]")."""
import dataclasses
import re
from typing import Sequence

from tools.retrieval.collection import Document

RAG_INSTRUCTION = ("Answer the question using the passages below. Cite the passages you "
                   "use by their number, like [1].")
_CITATION = re.compile(r"\s*\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]")


def format_passages(documents: Sequence[Document]) -> str:
  return "\n".join(f"[{number}] {d.title}: {d.text}"
                   for number, d in enumerate(documents, 1))


def rag_prompt(question: str, documents: Sequence[Document],
               instruction: str = RAG_INSTRUCTION) -> str:
  return f"{instruction}\n\n{format_passages(documents)}\n\nQuestion: {question}\nAnswer:"


@dataclasses.dataclass(frozen=True)
class Citations:
  """What an answer cites: the ids of the passages it names, in order of first mention,
  and the numbers it names that match no passage (a model inventing a [7] of 5)."""
  doc_ids: tuple[str, ...]
  unknown_numbers: tuple[int, ...]


def extract_citations(answer: str, documents: Sequence[Document]) -> Citations:
  """Reads "[2]", "[1, 3]" and "[1][3]" markers; `documents` are the passages in the order
  the prompt numbered them."""
  doc_ids: list[str] = []
  unknown: list[int] = []
  for match in _CITATION.finditer(answer):
    for number in (int(n) for n in match.group(1).split(",")):
      if 1 <= number <= len(documents):
        if documents[number - 1].id not in doc_ids:
          doc_ids.append(documents[number - 1].id)
      elif number not in unknown:
        unknown.append(number)
  return Citations(tuple(doc_ids), tuple(unknown))


def strip_citations(answer: str) -> str:
  """The answer without its citation markers, for scoring it against the gold answer."""
  return _CITATION.sub("", answer).strip()
