"""Extracts a seeded sample of WordNet 3.0 glosses from Debian's `wordnet-base` into
tasks/data/corpora/wordnet_glosses.txt, one synset per line: "lemma, lemma (pos): gloss".

    apt-get install -y wordnet-base
    python -m tasks.pretrain.extract_wordnet [--dict /usr/share/wordnet] [--n 2000]

Only this script needs the Debian package; the sample it writes ships with the repository
under the WordNet 3.0 licence (tasks/data/corpora/LICENSE.wordnet.txt, which every copy must
carry).
"""
import argparse
import pathlib
import random

from tasks.pretrain import corpora

POS_FILES = {"noun": "data.noun", "verb": "data.verb", "adjective": "data.adj",
             "adverb": "data.adv"}
OUT = corpora.WORDNET_FILE
SAMPLE_SEED = 20240517
SAMPLE_SIZE = 2000


def synsets(data_file: pathlib.Path, pos: str) -> list[str]:
  """'lemma, lemma (pos): gloss' for each synset line of a WordNet data.* file."""
  out = []
  for line in data_file.read_text(encoding="utf-8").splitlines():
    if line.startswith("  ") or "|" not in line:  # the licence header; no gloss
      continue
    fields, gloss = line.split("|", 1)
    parts = fields.split()
    word_count = int(parts[3], 16)
    lemmas = [parts[4 + 2 * i].replace("_", " ") for i in range(word_count)]
    # Adjective lemmas may carry a syntactic marker such as "(a)" or "(p)".
    lemmas = [lemma.split("(")[0] for lemma in lemmas]
    out.append(f"{', '.join(lemmas)} ({pos}): {' '.join(gloss.split())}")
  return out


def sample(dict_dir: pathlib.Path, n: int) -> list[str]:
  rows = [row for pos, name in POS_FILES.items() for row in synsets(dict_dir / name, pos)]
  return random.Random(SAMPLE_SEED).sample(rows, n)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dict", type=pathlib.Path, default=pathlib.Path("/usr/share/wordnet"))
  parser.add_argument("--n", type=int, default=SAMPLE_SIZE)
  parser.add_argument("--out", type=pathlib.Path, default=OUT)
  args = parser.parse_args()
  rows = sample(args.dict, args.n)
  args.out.write_text("".join(f"{r}\n" for r in rows), encoding="utf-8")
  print(f"wrote {len(rows)} glosses to {args.out}")


if __name__ == "__main__":
  main()
