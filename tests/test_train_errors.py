"""train.py and eval.py as a user runs them: an error that is the user's to fix (a bad gin
binding, an unwritable MODEL_DIR, a bad data file) prints its message and exits 1 without a
traceback, --debug shows the traceback, and any other exception (a bug) keeps its
traceback."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*argv, modules_dir=None):
  """modules_dir: a directory of the test's own modules, importable beside the repository's."""
  path = REPO if modules_dir is None else f"{REPO}{os.pathsep}{modules_dir}"
  return subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True,
                        text=True, check=False, timeout=600,
                        env=dict(os.environ, PYTHONPATH=path, JAX_PLATFORMS="cpu"))


SFT = ["train.py", "--gin_file=gin/runs/sft_tiny.gin"]


@pytest.mark.slow
def test_bad_binding_prints_the_message_without_traceback_and_debug_shows_it(tmp_path):
  argv = SFT + [f"--gin.MODEL_DIR='{tmp_path}'", "--gin.TRAIN_STEPZ=3"]
  quiet, debug = run(*argv), run(*argv, "--debug")
  message = ("gin binding 'TRAIN_STEPZ=3': macro TRAIN_STEPZ is not used by any "
             "configurable; did you mean TRAIN_STEPS?")
  assert quiet.returncode == 1
  assert f"error: {message}" in quiet.stderr
  assert "Traceback" not in quiet.stderr
  assert debug.returncode == 1
  assert "Traceback" in debug.stderr and f"GinConfigError: {message}" in debug.stderr
  assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_unwritable_model_dir_prints_the_message_without_traceback(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("keep me")
  result = run(*SFT, f"--gin.MODEL_DIR='{blocker}/run'")
  assert result.returncode == 1
  assert f"error: MODEL_DIR {blocker}/run cannot be written: " in result.stderr
  assert "Traceback" not in result.stderr
  assert blocker.read_text() == "keep me"


@pytest.mark.slow
def test_eval_reports_a_user_error_the_same_way(tmp_path):
  result = run("eval.py", "--gin_file=gin/runs/eval.gin", f"--gin.MODEL_DIR='{tmp_path}'")
  assert result.returncode == 1
  assert "error: gin files ['gin/runs/eval.gin']: macro %MODEL is not defined" in result.stderr
  assert "Traceback" not in result.stderr


# A bad file of each loader of data a user brings, as (loader, file, content, problem).
BAD_DATA = {
    "niv2": ("niv2.register_directory", "task1_opposites.json",
             '{"Definition": 3, "Positive Examples": [], "Instances": []}',
             "field 'Definition' should be text, got int"),
    "promptsource": ("promptsource.load_directory", "rte/templates.yaml",
                     "dataset: super_glue\ntemplates:\n  t1: !Template\n    name: claim\n"
                     "    jinja: '{{premise ||| yes'\n",
                     "template 'claim': Jinja syntax error line 1: "),
}


def run_with_data(tmp_path, script, run_file, kind, files):
  """`script` on `run_file` and a gin file importing a module that reads `files` (name ->
  content) with the `kind` loader, the way a user adds a directory of tasks."""
  data = tmp_path / "data"
  data.mkdir()
  for name, content in files.items():
    (data / name).parent.mkdir(exist_ok=True)
    (data / name).write_text(content)
  (tmp_path / "my_tasks.py").write_text(
      f"from tasks import {kind}\n{BAD_DATA[kind][0]}({str(data)!r})\n")
  (tmp_path / "my_tasks.gin").write_text("import my_tasks\n")
  return run(script, f"--gin_file={run_file}", f"--gin_file={tmp_path}/my_tasks.gin",
             f"--gin.MODEL_DIR='{tmp_path}/run'", modules_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("script, run_file, kind", [
    ("train.py", "gin/runs/sft_tiny.gin", "niv2"),
    ("eval.py", "gin/runs/eval.gin", "promptsource")])
def test_a_bad_data_file_prints_its_path_and_problem_without_traceback(tmp_path, script,
                                                                       run_file, kind):
  _, name, content, problem = BAD_DATA[kind]
  result = run_with_data(tmp_path, script, run_file, kind, {name: content})
  assert result.returncode == 1
  assert f"error: {tmp_path}/data/{name}: {problem}" in result.stderr
  assert "Traceback" not in result.stderr
  assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_directory_without_data_files_is_named_without_traceback(tmp_path):
  result = run_with_data(tmp_path, "train.py", "gin/runs/sft_tiny.gin", "niv2", {})
  assert result.returncode == 1
  assert (f"error: gin file '{tmp_path}/my_tasks.gin': no NIv2 task files (*.json) in "
          f"{tmp_path}/data") in result.stderr
  assert "Traceback" not in result.stderr


# train.py's error reporting around a body that fails as a bug or as a user error would.
REPORTED = """
import sys
from absl import app
import train
from trainer import user_errors

def main(argv):
  with train.user_errors_reported():
    raise {}("what went wrong")

app.run(main, argv=sys.argv)
"""


@pytest.mark.parametrize("error, traceback", [
    ("KeyError", True), ("user_errors.GinConfigError", False)])
def test_only_user_errors_lose_their_traceback(error, traceback):
  result = run("-c", REPORTED.format(error))
  assert result.returncode == 1
  assert ("Traceback" in result.stderr) == traceback
  assert "what went wrong" in result.stderr
