"""The wheel `pip install .` builds holds every package, gin config and data file.

Built from a copy of the working tree: setuptools reuses `build/lib`, where a file deleted
from the repository would linger and hide a missing one.
"""
import pathlib
import shutil
import subprocess
import sys
import zipfile

REPO = pathlib.Path(__file__).resolve().parents[1]
NOT_INSTALLED = {"tests", "benchmarks", "faults", "build"}


def _build_wheel(tmp_path) -> set[str]:
  source = tmp_path / "src"
  shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
      ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
  subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "-q", "-w", str(tmp_path / "dist"), str(source)],
                 check=True, capture_output=True, cwd=tmp_path)
  (wheel,) = (tmp_path / "dist").glob("instructax-*.whl")
  with zipfile.ZipFile(wheel) as archive:
    return set(archive.namelist())


def _repo_files(pattern: str, under: str = "") -> set[str]:
  return {p.relative_to(REPO).as_posix() for p in (REPO / under).glob(pattern)
          if p.is_file() and "__pycache__" not in p.parts}


def test_wheel_holds_every_package_gin_config_and_data_file(tmp_path):
  names = _build_wheel(tmp_path)
  # Hidden folders (.venv, .git) hold no package of ours.
  packages = {p.parent for p in REPO.glob("*/**/__init__.py")
              if p.relative_to(REPO).parts[0] not in NOT_INSTALLED
              and not p.relative_to(REPO).parts[0].startswith(".")}
  assert {"models", "tasks", "trainer", "interop", "instructax"} <= {
      p.relative_to(REPO).parts[0] for p in packages}
  sources = {f.relative_to(REPO).as_posix() for package in packages for f in package.glob("*.py")}
  modules = {"train.py", "eval.py", "chat.py"}
  data = _repo_files("**/*", "tasks/data")
  gin_configs = {"instructax/" + name for name in _repo_files("**/*.gin", "gin")}
  assert len(gin_configs) > 20 and "tasks/data/instruct_suite.spm.model" in data
  missing = (sources | modules | data | gin_configs) - names
  assert not missing, f"left out of the wheel: {sorted(missing)}"
  kept_out = ("gin/", "tests/", "benchmarks/", "faults/")
  assert not any(name.startswith(kept_out) for name in names), (
      "a top-level gin/ would shadow gin-config; tests, benchmarks and faults stay in the "
      "repository")
