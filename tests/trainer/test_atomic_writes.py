"""Run files written whole or not at all: a crash between the write and the rename leaves
the old file (or none) and no half-written target."""
import os

import pytest

from trainer import run_dir


class SimulatedCrash(Exception):
  pass


@pytest.fixture
def crash_at_rename(monkeypatch):
  """os.replace dies as a killed process would, after the temporary file is complete."""
  written = {}

  def crash(source, target):
    with open(source) as f:
      written[source] = f.read()
    raise SimulatedCrash(target)

  monkeypatch.setattr(os, "replace", crash)
  return written


def test_a_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
  target = tmp_path / "made" / "here" / "results.json"
  run_dir.write_text(str(target), "a much longer first content\n")
  run_dir.write_text(str(target), "short\n")
  assert target.read_text() == "short\n"
  assert os.listdir(target.parent) == ["results.json"]


def test_a_crash_before_the_rename_leaves_no_target(tmp_path, crash_at_rename):
  target = tmp_path / "DONE"
  with pytest.raises(SimulatedCrash):
    run_dir.write_text(str(target), "ok\n")
  assert list(crash_at_rename.values()) == ["ok\n"]  # the crash came after the write
  assert os.listdir(tmp_path) == []


def test_the_old_content_survives_a_failed_rewrite(tmp_path, request):
  target = tmp_path / "heldout.jsonl"
  run_dir.write_text(str(target), "old row 1\nold row 2\n")
  written = request.getfixturevalue("crash_at_rename")
  with pytest.raises(SimulatedCrash):
    run_dir.write_bytes(str(target), b"new row 1\n")
  assert list(written.values()) == ["new row 1\n"]
  assert target.read_text() == "old row 1\nold row 2\n"
  assert os.listdir(tmp_path) == ["heldout.jsonl"]
