"""Classification metrics: the confusion matrix and what it says. Taught in notebook 07.

Everything follows from the confusion matrix ``cm``: row ``i``, column ``j``
counts the examples of true class ``i`` predicted as class ``j``. For the
positive class (spam, 1):

- precision = TP / (TP + FP): of the messages flagged spam, the share that is;
- recall = TP / (TP + FN): of the spam, the share we caught;
- F1 = 2 * precision * recall / (precision + recall), their harmonic mean;
- accuracy = trace / total, over all classes.

A ratio whose denominator is 0 is reported as 0.0 (as scikit-learn does with
``zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["confusion_matrix", "classification_scores", "plot_confusion_matrix"]


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int = 2) -> torch.Tensor:
    """``[num_classes, num_classes]`` counts: row = true class, column = predicted class."""
    y_true = torch.as_tensor(y_true).long().flatten().cpu()
    y_pred = torch.as_tensor(y_pred).long().flatten().cpu()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.numel()} labels but y_pred has {y_pred.numel()}: pass one each")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise ValueError(f"{name} holds classes outside 0..{num_classes - 1}: pass num_classes={int(y.max()) + 1}")
    flat = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def classification_scores(cm: torch.Tensor, positive: int = 1) -> dict[str, float]:
    """Accuracy, and precision, recall and F1 of class ``positive``, from a confusion matrix."""
    cm = torch.as_tensor(cm)
    tp = float(cm[positive, positive])
    fp = float(cm[:, positive].sum()) - tp
    fn = float(cm[positive, :].sum()) - tp
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(float(cm.trace()), float(cm.sum())),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
    }


def plot_confusion_matrix(cm: torch.Tensor, labels: Sequence[str], ax: Any = None, title: str = "") -> Any:
    """Draw ``cm`` as a heat map with its counts written in; return the matplotlib axes."""
    import matplotlib.pyplot as plt

    cm = torch.as_tensor(cm)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(cm.numpy(), cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if cm[i, j] > cm.max() / 2 else "black"
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", color=color)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted class (messages)")
    ax.set_ylabel("true class (messages)")
    if title:
        ax.set_title(title)
    return ax
