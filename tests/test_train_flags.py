"""Fuzzed command lines for train.py's gin flags: the `--gin.NAME=VALUE` shorthand becomes
exactly `--gin_bindings=NAME=VALUE`, and a binding either parses or fails with a GinConfigError naming the binding (gin's parse
errors, its tokenizer's on an unclosed bracket, the misspelled-macro check), never another
exception."""
from absl import flags
import gin
from hypothesis import example, given, settings
from hypothesis import strategies as st
import pytest

import train
from trainer import user_errors

MACROS = ("MODEL_DIR", "TRAIN_STEPS", "BATCH_SIZE", "LEARNING_RATE")
# A run file of the shape of gin/runs/*.gin over a configurable of this test (the real ones
# import the trainer, which costs more than every example here together).
RUN_FILE = "".join(f"fuzz_run.{m.lower()} = %{m}\n" for m in MACROS) + "".join(
    f"{m} = 1\n" for m in MACROS) + "fuzz_run.mesh = @make_test_mesh()\n"


@gin.configurable(module="fuzz_flags")
def fuzz_run(model_dir, train_steps, batch_size, learning_rate, mesh, log_every=10):
  return model_dir, train_steps, batch_size, learning_rate, mesh, log_every


@gin.configurable(module="fuzz_flags")
def make_test_mesh():
  return "mesh"


names = st.one_of(st.sampled_from(MACROS), st.sampled_from(MACROS).map(str.lower),
                  st.sampled_from(["fuzz_run.batch_size", "fuzz_run.log_every",
                                   "fuzz_flags.fuzz_run.mesh", "no_such.param", "a/b.c",
                                   "BATCH_SIZ", ""]),
                  st.text(st.sampled_from("ABZ_az.9/ =%@'\"()[]"), max_size=10))
values = st.one_of(st.sampled_from(["1", "'/tmp/x'", "8", "%BATCH_SIZE", "@make_test_mesh()",
                                    "@no_such()", "%NO_SUCH", "[",
                                    "None", "1e-3", "'a", "{'inputs': 8}"]),
                   st.text(max_size=10))
args = st.one_of(st.tuples(names, values).map(lambda nv: f"--gin.{nv[0]}={nv[1]}"),
                 st.text(max_size=14), st.sampled_from(["--gin.", "--gin.X", "--gin.=1",
                                                        "--gin_bindings=A=1", "--gin_file=x"]))
FUZZ = settings(max_examples=150, deadline=2000)


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
  path = tmp_path_factory.mktemp("gin") / "run.gin"
  path.write_text(RUN_FILE)
  yield str(path)
  gin.clear_config()


@FUZZ
@given(argv=st.lists(args, max_size=4))
@example(argv=["--gin.A=b=c", "--gin.X", "positional"])
def test_shorthand_becomes_the_same_binding_and_nothing_else_changes(argv):
  expanded = train.expand_gin_shorthand(argv)
  assert len(expanded) == len(argv)
  for before, after in zip(argv, expanded):
    name, has_value, value = before.removeprefix("--gin.").partition("=")
    if before.startswith("--gin.") and has_value and name:
      assert after == f"--gin_bindings={name}={value}"
    else:
      assert after == before


@FUZZ
@given(argv=st.lists(args, max_size=4))
@example(argv=["--gin.", "--gin.=1"])
def test_absl_takes_the_expanded_line_or_names_the_bad_flag(argv):
  flag_values = flags.FlagValues()
  flags.DEFINE_multi_string("gin_bindings", [], "", flag_values=flag_values)
  flags.DEFINE_multi_string("gin_file", [], "", flag_values=flag_values)
  try:
    rest = flag_values(["train.py", *train.expand_gin_shorthand(argv)])
  except flags.Error as e:
    assert str(e)
    return
  shorthand = [a.removeprefix("--gin.") for a in argv
               if a.startswith("--gin.") and "=" in a and not a.startswith("--gin.=")]
  explicit = [a.removeprefix("--gin_bindings=") for a in argv
              if a.startswith("--gin_bindings=")]
  assert sorted(flag_values.gin_bindings) == sorted(shorthand + explicit)
  assert all(not a.startswith("--gin.") for a in rest[1:])


@FUZZ
@given(bindings=st.lists(st.tuples(names, values).map("=".join), min_size=1, max_size=3))
@example(bindings=["BATCH_SIZ = 8"])
@example(bindings=["=1"])
def test_bindings_parse_or_fail_with_a_clear_error(run_file, bindings):
  gin.clear_config()
  try:
    train.parse_gin([run_file], bindings)
  except user_errors.GinConfigError as e:
    assert any(str(e).startswith(f"gin binding {b!r}: ") for b in bindings), str(e)


def test_misspelled_macro_names_the_binding_and_the_close_macro(run_file):
  gin.clear_config()
  with pytest.raises(ValueError, match=r"gin binding 'BATCH_SIZ=8': macro BATCH_SIZ is not "
                                       r"used by any configurable; did you mean BATCH_SIZE\?"):
    train.parse_gin([run_file], ["BATCH_SIZ=8"])
  gin.clear_config()
  train.parse_gin([run_file], ["BATCH_SIZE=8", "fuzz_run.log_every=2"])
  assert gin.query_parameter("%BATCH_SIZE") == 8


def test_unclosed_bracket_names_the_binding(run_file):
  """Found by the fuzz test above: gin's tokenizer raises tokenize.TokenError there."""
  gin.clear_config()
  with pytest.raises(user_errors.GinConfigError,
                     match=r"^gin binding 'MODEL_DIR=\[': .*unclosed bracket or quote"):
    train.parse_gin([run_file], ["MODEL_DIR=1", "MODEL_DIR=["])


def test_a_missing_gin_file_is_named(run_file):
  gin.clear_config()
  with pytest.raises(user_errors.GinConfigError, match=r"^gin file 'no/such\.gin': "):
    train.parse_gin([run_file, "no/such.gin"], [])
