"""Gradients three ways: by the chain rule, by central differences, by autograd.

Taught in notebook 01 (tensors and autograd). The notebook derives each of these
by hand, checks it against ``torch.autograd``, and later cells import the
references from here:

- :func:`neuron_loss` and :func:`neuron_grads`: one logistic neuron
  ``a = sigmoid(w @ x + b)`` with the binary cross-entropy loss, and its gradients
  by the chain rule.
- :func:`central_difference`: a numerical gradient of any scalar function, the
  independent witness for hand-derived and automatic gradients.
- :func:`two_layer_forward` and :func:`two_layer_backward`: backpropagation by
  hand through ``tanh(X @ W1 + b1) @ W2 + b2`` with a mean squared error loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.validation import as_float, check_tensor


def neuron_loss(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: float | torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of one logistic neuron against the label ``y`` (0 or 1).

    ``z = w @ x + b``, ``a = sigmoid(z)``, ``L = -(y log a + (1 - y) log(1 - a))``.
    Returns a 0-d tensor, differentiable with respect to ``w`` and ``b``.
    """
    check_tensor(w, "w", dtype="float")
    check_tensor(x, "x", dtype="float")
    if w.shape != x.shape or w.dim() != 1:
        raise ValueError(
            f"w and x must be vectors of the same length; got shapes {tuple(w.shape)} and {tuple(x.shape)}"
        )
    z = w @ x + b
    a = torch.sigmoid(z)
    y = torch.as_tensor(y, dtype=a.dtype)
    return -(y * torch.log(a) + (1 - y) * torch.log(1 - a))


def neuron_grads(
    w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dL/dw, dL/db)`` of :func:`neuron_loss`, by the chain rule.

    ``dL/da = -y/a + (1 - y)/(1 - a)`` and ``da/dz = a (1 - a)``; their product
    simplifies to ``dL/dz = a - y``. Then ``dz/dw = x`` and ``dz/db = 1``.
    """
    with torch.no_grad():
        a = torch.sigmoid(w @ x + b)
        dL_dz = a - torch.as_tensor(y, dtype=a.dtype)
        return dL_dz * x, dL_dz.reshape(torch.as_tensor(b).shape)


def central_difference(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float = 1e-6
) -> torch.Tensor:
    """Approximate the gradient of a scalar function ``f`` at ``x``, one entry at a time.

    Entry ``i`` is ``(f(x + h e_i) - f(x - h e_i)) / (2 h)``. Its error shrinks like
    ``h**2`` until rounding takes over, so use float64 and ``h`` near ``1e-6``
    (float32 wants ``h`` near ``1e-2``). It costs two calls of ``f`` per entry: a
    witness for small tests, not a way to train.
    """
    if not callable(f):
        raise TypeError(f"f must be a function of x that returns a scalar tensor, got {type(f).__name__}")
    h = as_float(h, "h", minimum=0.0, hint="a small step such as 1e-6 (float64) or 1e-2 (float32)")
    if h == 0:
        raise ValueError("h must be > 0: a step of 0 divides by zero; use about 1e-6 with float64")
    check_tensor(x, "x")
    if not x.is_floating_point():
        raise TypeError(f"x has dtype {x.dtype}; central differences need floats, e.g. x.to(torch.float64)")
    x = x.detach().contiguous()  # so that .view(-1) walks the entries of a transposed x too
    grad = torch.empty_like(x)
    with torch.no_grad():
        for i in range(x.numel()):
            step = torch.zeros_like(x)
            step.view(-1)[i] = h
            up, down = f(x + step), f(x - step)
            if up.numel() != 1:
                raise ValueError(
                    f"f must return a scalar, but it returned shape {tuple(up.shape)}: "
                    "reduce it (e.g. .sum())"
                )
            grad.view(-1)[i] = (up - down).item() / (2 * h)
    return grad


def two_layer_forward(
    X: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(H, y_hat)`` with ``H = tanh(X @ W1 + b1)`` and ``y_hat = H @ W2 + b2``.

    Shapes: ``X`` is (n, d_in), ``W1`` (d_in, hidden), ``b1`` (hidden,),
    ``W2`` (hidden, d_out), ``b2`` (d_out,); ``H`` is (n, hidden) and ``y_hat`` (n, d_out).
    """
    for name, t in (("X", X), ("W1", W1), ("W2", W2)):
        check_tensor(t, name, dtype="float", dim=2)
    if X.shape[1] != W1.shape[0] or W1.shape[1] != W2.shape[0]:
        raise ValueError(
            f"shapes do not chain: X {tuple(X.shape)} @ W1 {tuple(W1.shape)} @ W2 {tuple(W2.shape)}; "
            "X's columns must equal W1's rows, and W1's columns W2's rows"
        )
    H = torch.tanh(X @ W1 + b1)
    return H, H @ W2 + b2


def two_layer_loss(
    X: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    """Mean squared error of :func:`two_layer_forward`, averaged over every entry of ``y``."""
    _, y_hat = two_layer_forward(X, W1, b1, W2, b2)
    _check_target(y, y_hat)
    return ((y_hat - y) ** 2).mean()


def _check_target(y: torch.Tensor, y_hat: torch.Tensor) -> None:
    # y of shape (n,) against y_hat (n, 1) would broadcast to (n, n) and give a wrong loss without an error.
    if y_hat.shape != y.shape:
        raise ValueError(
            f"y has shape {tuple(y.shape)} but the network predicts {tuple(y_hat.shape)}: "
            "give y one row per example and one column per output, e.g. y[:, None] for a single output"
        )


def two_layer_backward(
    X: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Gradients of :func:`two_layer_loss` by hand: a dict with ``W1``, ``b1``, ``W2``, ``b2``.

    Backpropagation walks the forward pass in reverse, one local derivative at a time:
    ``dY = 2 (y_hat - y) / y.numel()``; ``dW2 = H.T @ dY``; ``db2 = dY.sum(0)``;
    ``dH = dY @ W2.T``; ``dZ = dH * (1 - H**2)`` (tanh' = 1 - tanh**2);
    ``dW1 = X.T @ dZ``; ``db1 = dZ.sum(0)``.
    """
    with torch.no_grad():
        H, y_hat = two_layer_forward(X, W1, b1, W2, b2)
        _check_target(y, y_hat)
        dY = 2 * (y_hat - y) / y.numel()
        dH = dY @ W2.T
        dZ = dH * (1 - H**2)
        return {"W1": X.T @ dZ, "b1": dZ.sum(0), "W2": H.T @ dY, "b2": dY.sum(0)}
