"""tasks.metrics.rank_classification_accuracy on hand-computed cases."""
import pytest

from tasks import metrics


@pytest.mark.parametrize("targets,scores,accuracy", [
    # argmax 1 == 1, argmax 0 != 2, argmax 2 == 2: 2 of 3.
    ([1, 2, 2], [[-3.0, -1.0], [-0.5, -2.0, -4.0], [-9.0, -8.0, -7.0]], 200 / 3),
    # Log-probs are negative: the largest (least negative) wins, not the largest magnitude.
    ([0], [[-0.1, -5.0]], 100.0),
    # Ties go to the earlier choice: [2, 2] picks 0; [1, 3, 3] picks 1.
    ([0, 1, 2], [[2.0, 2.0], [1.0, 3.0, 3.0], [1.0, 3.0, 3.0]], 200 / 3),
    ([1], [[2.0, 2.0]], 0.0),
    # -1: the right answer is not among the choices; a miss, still in the denominator.
    ([-1, 0, -1, 1], [[0.0, -1.0], [0.0, -1.0], [-1.0, 0.0], [-1.0, 0.0]], 50.0),
    # One choice: always right when it is the target.
    ([0, -1], [[-20.0], [-20.0]], 50.0),
    ([], [], 0.0),
])
def test_rank_accuracy_hand_computed(targets, scores, accuracy):
  assert metrics.rank_classification_accuracy(targets, scores) == {
      "rank_accuracy": pytest.approx(accuracy)}


def test_rank_accuracy_refuses_mismatched_and_empty_inputs():
  with pytest.raises(ValueError, match="2 targets but 1 score lists"):
    metrics.rank_classification_accuracy([0, 1], [[0.0, 1.0]])
  with pytest.raises(ValueError, match="example 1 has no scored choices"):
    metrics.rank_classification_accuracy([0, 0], [[0.0], []])
