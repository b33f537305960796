"""GRPO's reward functions on fixture rows, their weighted sum, and the errors naming the
row for a reward that raises or is not finite."""
import numpy as np
import pytest

from tasks.rl_prompts import RLPrompt
from trainer.rlhf.grpo import rewards

SUM = RLPrompt("addition", "arithmetic", 3, "What is 840 plus 846?", "1686", (), "exact_match")
NLI = RLPrompt("nli_shirts", "nli", 7, "Premise: ... Does the premise entail it?",
               "it is not possible to tell", ("yes", "it is not possible to tell", "no"),
               "exact_match")
ANTONYM = RLPrompt("antonym_free", "word_relations", 2, "Give an antonym for exclude.",
                   "include", (), "rouge")


@pytest.mark.parametrize("prompt,response,expected", [
    (SUM, "1686", 1.0), (SUM, "  1686 ", 1.0), (SUM, "1687", 0.0),
    (SUM, "The answer is 1686", 0.0), (SUM, "", 0.0),
    (NLI, "It is not  possible to tell", 1.0), (NLI, "no", 0.0),
    (NLI, "yes, it is not possible to tell", 0.0)])
def test_verifiable_reward_is_exact_match_of_the_normalised_answer(prompt, response, expected):
  assert rewards.verifiable_reward(prompt, response, True) == expected


def test_labeler_reward_is_the_rubric_total():
  assert rewards.labeler_reward(SUM, "1686", True) == 4.0   # every part of the rubric
  assert rewards.labeler_reward(SUM, "1686", False) < 4.0   # cut off: not helpful


def test_verifiable_reward_refuses_prompts_it_cannot_check():
  rewards.check_verifiable([SUM, NLI])
  with pytest.raises(ValueError, match=r"first prompt antonym_free\[2\] .*antonym_free "
                                       r"\(rouge\).*'labeler'"):
    rewards.check_verifiable([SUM, ANTONYM])


def test_weighted_sum_of_host_rewards():
  components = rewards.host_rewards(rewards.BUILT_IN, [SUM, SUM], ["1686", "12"],
                                    [True, True], "here")
  np.testing.assert_array_equal(components["verifiable"], [1.0, 0.0])
  total = rewards.weighted_sum(components, {"verifiable": 2.0, "labeler": 0.5})
  np.testing.assert_allclose(total, 2.0 * components["verifiable"]
                             + 0.5 * components["labeler"])


def test_a_reward_function_that_raises_names_the_row():
  def fails_on_long(prompt, response, finished):
    del prompt, finished
    if len(response) > 3:
      raise KeyError("too long")
    return 1.0
  with pytest.raises(ValueError, match=r"GRPO iteration 4: reward 'short' raised KeyError: "
                                       r".*row 1 \(prompt addition\[3\] .*response '12345'"):
    rewards.host_rewards({"short": fails_on_long}, [SUM, SUM], ["1", "12345"],
                         [True, True], "GRPO iteration 4")


def test_a_nan_reward_names_the_row():
  with pytest.raises(ValueError, match=r"reward 'nan' is nan for row 0 \(prompt nli_shirts"
                                       r"\[7\].*1 of 2 rows"):
    rewards.host_rewards({"nan": lambda p, r, f: float("nan") if p is NLI else 0.0},
                         [NLI, SUM], ["a", "b"], [True, True], "here")


@pytest.mark.parametrize("weights,reward_dir,message", [
    ({}, True, "reward_weights is empty"),
    ({"exact": 1.0}, True, "'exact', which is no reward function; known: labeler, "
                           "reward_model, verifiable"),
    ({"verifiable": float("nan")}, True, "not finite"),
    ({"reward_model": 1.0}, False, "no reward_dir"),
])
def test_reward_settings_are_checked(weights, reward_dir, message):
  with pytest.raises(ValueError, match=message):
    rewards.resolve(weights, None, reward_dir)


def test_resolve_keeps_the_host_functions_of_the_sum():
  custom = lambda p, r, f: 0.0
  resolved = rewards.resolve({"verifiable": 1.0, "reward_model": 0.5, "mine": 1.0},
                             {"mine": custom}, True)
  assert resolved == {"verifiable": rewards.verifiable_reward, "mine": custom}
