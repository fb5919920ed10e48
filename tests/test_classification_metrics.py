"""Classification metrics of notebook 07 against values computed by hand on a fixed confusion matrix."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from course_lib.classification_metrics import classification_scores, confusion_matrix, plot_confusion_matrix

matplotlib.use("Agg")


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    y_true = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    y_pred = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]
    cm = confusion_matrix(y_true, y_pred)
    assert cm.tolist() == [[3, 1], [2, 4]]
    assert confusion_matrix(torch.tensor([2, 0]), torch.tensor([1, 0]), num_classes=3).tolist() == [
        [1, 0, 0],
        [0, 0, 0],
        [0, 1, 0],
    ]


def test_scores_equal_hand_computed_values():
    cm = torch.tensor([[50, 10], [5, 35]])  # TN=50, FP=10, FN=5, TP=35
    scores = classification_scores(cm)
    precision, recall = 35 / 45, 35 / 40
    assert scores["accuracy"] == pytest.approx(85 / 100)
    assert scores["precision"] == pytest.approx(precision)
    assert scores["recall"] == pytest.approx(recall)
    assert scores["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert scores["f1"] == pytest.approx(70 / 85)  # 2TP / (2TP + FP + FN)
    ham = classification_scores(cm, positive=0)
    assert ham["precision"] == pytest.approx(50 / 55) and ham["recall"] == pytest.approx(50 / 60)


def test_no_positive_predictions_give_zero_not_nan():
    scores = classification_scores(torch.tensor([[5, 0], [3, 0]]))
    assert scores == {"accuracy": 5 / 8, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="3 labels but y_pred has 2"):
        confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="num_classes=3"):
        confusion_matrix([0, 2], [0, 1])


def test_plot_writes_every_count_and_labels_axes():
    ax = plot_confusion_matrix(torch.tensor([[7, 1], [2, 9]]), ["ham", "spam"], title="test")
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "7", "9"]
    assert "predicted" in ax.get_xlabel() and "true" in ax.get_ylabel()
