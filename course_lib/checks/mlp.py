"""Checks for notebook 02, the MLP that fits the heat capacity of nitrogen.

Each check computes the reference from ``course_lib.mlp`` on seeded inputs first,
then calls the learner's function on copies (through
:func:`course_lib.checks.call`), prints one line on success and raises a short
:class:`course_lib.checks.CheckFailed` with a hint on failure.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from course_lib import mlp
from course_lib.checks import as_float64, call, expect, expect_close, fail, passed

# The four steps of every training loop, as they are written in mlp.train_torch.
TRAINING_STEPS: dict[str, str] = {
    "forward": "y_hat = model(X)",
    "loss": "loss = loss_fn(y_hat, y)",
    "backprop": "loss.backward()",
    "update": "optimizer.step()",
}


def _seeded_problem(hidden: int = 5, n: int = 7, seed: int = 2) -> tuple[mlp.Params, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = mlp.init_params(hidden, seed=seed)
    X = rng.uniform(0.0, 1.0, size=(n, 1))
    y = rng.uniform(0.0, 1.0, size=(n, 1))
    return params, X, y


def check_fit_cubic(fit_cubic: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """The learner's ``fit_cubic(T, cp)`` returns ``(a, b, c, d)`` like ``mlp.fit_cubic``."""
    rng = np.random.default_rng(0)
    T = np.linspace(300.0, 2000.0, 20)
    cp = 0.9 + 2e-4 * T - 5e-8 * T**2 + 1e-11 * T**3 + rng.normal(0.0, 1e-3, T.size)
    expected = mlp.fit_cubic(T, cp)
    got = call(fit_cubic, T.copy(), cp.copy(), exercise=1)
    expect(got is not None, "fit_cubic returned None", "end the function with `return coef`.")
    try:
        got = as_float64(got).numpy().ravel()
    except TypeError:
        fail("fit_cubic: the coefficients", "an array of 4 numbers", type(got).__name__, "return coef.")
    if got.shape == (4,) and np.allclose(got[::-1], expected, rtol=1e-4, atol=0):
        fail(
            "fit_cubic: coefficients in the wrong order",
            "(a, b, c, d) with a the constant term",
            got,
            "np.polyfit (and np.vander by default) put the highest power first; the course writes a first.",
        )
    expect_close(
        mlp.eval_cubic(got, T) if got.shape == (4,) else got,
        mlp.eval_cubic(expected, T),
        what="fit_cubic: the fitted polynomial at the data points",
        hint=(
            "fit all four coefficients by least squares, with one column per power of T.",
            "build the columns 1, T, T**2, T**3 and solve the least-squares problem with np.linalg.lstsq.",
        ),
        rtol=0,
        atol=1e-7,
    )
    passed("fit_cubic matches the least-squares cubic.")


def check_forward(forward: Callable[..., Any]) -> None:
    """The learner's ``forward(params, X)`` returns ``(y_hat, cache)`` like ``mlp.forward``."""
    params, X, _ = _seeded_problem()
    expected, expected_cache = mlp.forward(params, X)
    result = call(forward, {k: v.copy() for k, v in params.items()}, X.copy(), exercise=2)
    expect(
        isinstance(result, tuple) and len(result) == 2,
        f"forward should return a pair (y_hat, cache), got {type(result).__name__}",
        "end with `return y_hat, {'X': X, 'z1': z1, 'h': h}`.",
    )
    y_hat, cache = result
    expect_close(
        cache.get("h") if isinstance(cache, dict) else None,
        expected_cache["h"],
        what="forward: the hidden activations cache['h']",
        hint=(
            "the hidden layer is an affine map (weights AND bias) followed by the activation, shape (N, H).",
            "h = np.tanh(X @ W1 + b1), of shape (N, H).",
        ),
    )
    expect_close(
        y_hat,
        expected,
        what="forward: y_hat",
        hint=(
            "the output layer is affine too (weights and bias), with no activation, shape (N, 1).",
            "y_hat = h @ W2 + b2, of shape (N, 1).",
        ),
    )
    passed(f"forward matches the reference: y_hat {tuple(expected.shape)}, h {tuple(expected_cache['h'].shape)}.")


def _scale_hint(got: np.ndarray, expected: np.ndarray, n: int) -> str:
    """Guess the mistake from the ratio got / expected, when it is one number."""
    mask = np.abs(expected) > 1e-12
    if got.shape != expected.shape or not mask.any():
        return ""
    ratio = got[mask] / expected[mask]
    if np.allclose(ratio, ratio[0], rtol=1e-6):
        for value, reason in (
            (0.5, "half the true value: the derivative of (y_hat - y)**2 is 2 (y_hat - y)."),
            (float(n), f"{n} times too large: divide by N = {n}, the loss is a mean."),
            (-1.0, "the sign is flipped: d_yhat = 2 (y_hat - y) / N, prediction minus target."),
        ):
            if np.isclose(ratio[0], value):
                return " Your gradient is " + reason
    return ""


def check_backward(backward: Callable[..., Any]) -> None:
    """The learner's gradients agree with finite differences, torch autograd and the reference."""
    params, X, y = _seeded_problem()
    y_hat, cache = mlp.forward(params, X)
    numeric = mlp.numerical_gradients(params, X, y)
    autograd = mlp.autograd_gradients(params, X, y)
    learner_cache = {k: v.copy() for k, v in cache.items()}
    grads = call(backward, {k: v.copy() for k, v in params.items()}, learner_cache, y_hat.copy(), y.copy(), exercise=3)
    expect(isinstance(grads, dict), "backward should return a dict of gradients", "return {'W1': ..., ...}")
    missing = [name for name in mlp.PARAM_NAMES if name not in grads]
    expect(not missing, f"backward: no gradient for {missing}", "return one gradient per parameter.")
    hints = {
        "W2": "the output layer first: d_yhat times what W2 multiplied in the forward pass, shape (H, 1).",
        "b2": "b2 is added to every row, so its gradient collects d_yhat over the batch, shape (1,).",
        "W1": "send d_yhat back through W2 and through tanh (write its derivative with h), then through W1; "
        "shape (1, H).",
        "b1": "like b2, one layer down: collect the gradient at z1 over the batch, shape (H,).",
    }
    for name in ("W2", "b2", "W1", "b1"):
        try:
            got = as_float64(grads[name]).numpy()
        except TypeError:
            fail(f"backward: d loss / d {name}", "an array", type(grads[name]).__name__, hints[name])
        expect_close(
            got,
            numeric[name],
            what=f"backward: d loss / d {name} against finite differences",
            hint=hints[name] + _scale_hint(got, numeric[name], len(X)),
            rtol=1e-5,
            atol=1e-8,
        )
        expect_close(
            got,
            autograd[name],
            what=f"backward: d loss / d {name} against torch autograd",
            hint=hints[name],
            rtol=1e-5,
            atol=1e-8,
        )
    worst_fd = max(float(np.abs(as_float64(grads[k]).numpy() - numeric[k]).max()) for k in mlp.PARAM_NAMES)
    worst_ag = max(float(np.abs(as_float64(grads[k]).numpy() - autograd[k]).max()) for k in mlp.PARAM_NAMES)
    passed(
        f"backward matches finite differences (max diff {worst_fd:.1e}) "
        f"and torch autograd (max diff {worst_ag:.1e}) for W1, b1, W2, b2."
    )


def check_gd_step(gd_step: Callable[..., Any]) -> None:
    """The learner's ``gd_step(params, grads, lr)`` moves every parameter against its gradient."""
    params, X, y = _seeded_problem()
    y_hat, cache = mlp.forward(params, X)
    grads = mlp.backward(params, cache, y_hat, y)
    lr = 0.1
    expected = mlp.gd_step(params, grads, lr)
    got = call(
        gd_step,
        {k: v.copy() for k, v in params.items()},
        {k: v.copy() for k, v in grads.items()},
        lr,
        exercise=4,
    )
    expect(isinstance(got, dict), "gd_step should return a dict of new parameters", "return {name: ...}.")
    missing = [name for name in mlp.PARAM_NAMES if name not in got]
    expect(not missing, f"gd_step: no new value for {missing}", "return one array per parameter.")
    for name in mlp.PARAM_NAMES:
        try:
            got_value = as_float64(got[name]).numpy()
        except TypeError:
            fail(f"gd_step: new {name}", "an array", type(got[name]).__name__, "return one array per parameter.")
        if got_value.shape == params[name].shape and np.allclose(got_value, params[name] + lr * grads[name]):
            fail(
                f"gd_step: {name} moved uphill",
                "params - lr * grads",
                "params + lr * grads",
                "gradient descent steps against the gradient: subtract.",
            )
        expect_close(
            got_value,
            expected[name],
            what=f"gd_step: new {name}",
            hint=(
                "each parameter moves by lr times its own gradient, against the gradient.",
                "new = old - lr * gradient, for each of W1, b1, W2, b2.",
            ),
        )
    before = mlp.mse_loss(y_hat, y)
    after = mlp.mse_loss(mlp.forward(expected, X)[0], y)
    passed(f"gd_step matches the reference; one step lowers the loss from {before:.4f} to {after:.4f}.")


def check_locate_steps(locate_steps: Callable[[], dict[str, str]]) -> None:
    """The learner names the line of ``mlp.train_torch`` that does each of the four steps."""
    answers = call(locate_steps, exercise="Experiment 1")
    expect(isinstance(answers, dict), "locate_steps should return a dict", "return {'forward': '...', ...}.")
    source_lines = {line.strip() for line in inspect.getsource(mlp.train_torch).splitlines()}
    hints = {
        "forward": "the line that calls the model on the inputs.",
        "loss": "the line that compares predictions with targets.",
        "backprop": "the line that fills every parameter's .grad; zero_grad only clears them.",
        "update": "the line that changes the weights, using .grad; zero_grad does not change weights.",
    }
    for step, line in TRAINING_STEPS.items():
        got = str(answers.get(step, "")).strip()
        if got and got not in source_lines:
            fail(
                f"locate_steps: {step!r} is not a line of train_torch",
                "a line copied from the loop",
                got,
                "copy the whole line, as printed above.",
            )
        expect(got == line, f"locate_steps: {step!r} points at {got!r}", "look for " + hints[step])
    passed("You found the forward pass, the loss, backpropagation and the update.")
