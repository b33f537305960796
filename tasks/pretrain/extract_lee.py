"""Extracts the Lee background corpus (300 news articles, 7 of them twice) shipped in the
`gensim` wheel into tasks/data/corpora/lee_background.txt, one article per line, each
once (293).

    pip download --no-deps gensim==4.4.0 -d /tmp/gensim
    python -m tasks.pretrain.extract_lee --wheel /tmp/gensim/gensim-4.4.0-*.whl

gensim is LGPL-2.1-only; the file is shipped unmodified apart from whitespace (runs of
spaces and tabs in an article become one space) and the repeats, under that licence, with its text
beside it (tasks/data/corpora/LICENSE.gensim.txt, copied from the wheel).
"""
import argparse
import pathlib
import zipfile

from tasks.pretrain import corpora

CORPUS_IN_WHEEL = "gensim/test/test_data/lee_background.cor"
LICENCE_IN_WHEEL_SUFFIX = ".dist-info/licenses/COPYING"
OUT = corpora.LEE_FILE
LICENCE_OUT = corpora.CORPORA_DIR / "LICENSE.gensim.txt"


def articles(text: str) -> list[str]:
  """Each article once, in file order (a repeat would land in both splits)."""
  return list(dict.fromkeys(" ".join(line.split()) for line in text.split("\n")
                            if line.strip()))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--wheel", type=pathlib.Path, required=True, help="a gensim wheel")
  wheel_path = parser.parse_args().wheel
  with zipfile.ZipFile(wheel_path) as wheel:
    rows = articles(wheel.read(CORPUS_IN_WHEEL).decode("utf-8"))
    licence = next(n for n in wheel.namelist() if n.endswith(LICENCE_IN_WHEEL_SUFFIX))
    LICENCE_OUT.write_bytes(wheel.read(licence))
  OUT.write_text("".join(f"{r}\n" for r in rows), encoding="utf-8")
  print(f"wrote {len(rows)} articles to {OUT} and the licence to {LICENCE_OUT}")


if __name__ == "__main__":
  main()
