"""course_lib.autograd agrees with torch.autograd, and the notebook-01 checks catch typical mistakes."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from course_lib import autograd as ref
from course_lib.checks import autograd as checks
from course_lib.optim import sgd_update

F64 = torch.float64


# ----------------------------------------------------------------------------- references vs autograd


@pytest.mark.parametrize("y", [1.0, 0.0])
def test_neuron_grads_equal_autograd_and_central_differences(y):
    torch.manual_seed(0)
    w, x, b = torch.randn(4, dtype=F64), torch.randn(4, dtype=F64), torch.randn((), dtype=F64)
    w_, b_ = w.clone().requires_grad_(), b.clone().requires_grad_()
    auto_dw, auto_db = torch.autograd.grad(ref.neuron_loss(w_, x, b_, y), (w_, b_))
    dw, db = ref.neuron_grads(w, x, b, y)
    assert_close(dw, auto_dw)
    assert_close(db, auto_db)
    assert_close(ref.central_difference(lambda w: ref.neuron_loss(w, x, b, y), w), auto_dw, rtol=1e-7, atol=1e-9)
    assert_close(ref.central_difference(lambda b: ref.neuron_loss(w, x, b, y), b), auto_db, rtol=1e-7, atol=1e-9)


def test_neuron_loss_value():
    # z = 0 gives a = 1/2 and a loss of log 2 for either label.
    w, x = torch.tensor([1.0, -1.0]), torch.tensor([2.0, 2.0])
    assert_close(ref.neuron_loss(w, x, torch.tensor(0.0), 1.0), torch.tensor(0.6931472))
    with pytest.raises(ValueError, match="same length"):
        ref.neuron_loss(w, torch.ones(3), torch.tensor(0.0), 1.0)


def test_central_difference_on_a_matrix_and_its_errors():
    A = torch.randn(3, 2, dtype=F64, generator=torch.Generator().manual_seed(3))
    assert_close(ref.central_difference(lambda A: (A**3).sum(), A), 3 * A**2, rtol=1e-8, atol=1e-8)
    # A transposed (non-contiguous) input gets the gradient of its own entries, in its own shape.
    weights = torch.arange(6, dtype=F64).reshape(2, 3)
    assert_close(ref.central_difference(lambda B: (weights * B).sum(), A.T), weights, rtol=1e-8, atol=1e-8)
    with pytest.raises(TypeError, match="float64"):
        ref.central_difference(lambda t: t.sum(), torch.arange(3))
    with pytest.raises(ValueError, match="scalar"):
        ref.central_difference(lambda t: t * 2, torch.ones(2, dtype=F64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_layer_backward_equals_autograd(seed):
    case = checks.two_layer_case(seed, n=6, d_in=3, hidden=5, d_out=2)
    leaves = {k: v.clone().requires_grad_() for k, v in case.items() if k not in ("X", "y")}
    ref.two_layer_loss(case["X"], case["y"], **leaves).backward()
    grads = ref.two_layer_backward(**case)
    for name, leaf in leaves.items():
        assert grads[name].shape == leaf.shape
        assert_close(grads[name], leaf.grad)


def test_two_layer_shapes_are_checked():
    case = checks.two_layer_case()
    with pytest.raises(ValueError, match="do not chain"):
        ref.two_layer_forward(case["X"].T, case["W1"], case["b1"], case["W2"], case["b2"])
    with pytest.raises(ValueError, match="predicts"):
        ref.two_layer_loss(case["X"], case["y"][:, :1], **{k: case[k] for k in ("W1", "b1", "W2", "b2")})
    # y of shape (n,) against one output (n, 1) would broadcast to (n, n): an error, not wrong gradients.
    one_output = checks.two_layer_case(d_out=1)
    with pytest.raises(ValueError, match=r"predicts \(5, 1\).*y\[:, None\]"):
        ref.two_layer_backward(**{**one_output, "y": one_output["y"][:, 0]})


# ----------------------------------------------------------------------------- checks pass the references


def test_checks_pass_the_references(capsys):
    checks.check_neuron_grads(ref.neuron_grads)
    checks.check_sgd_update(sgd_update)
    checks.check_two_layer_backward(ref.two_layer_backward)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("✅") for line in lines)


# ----------------------------------------------------------------------------- checks catch mistakes


def _neuron_wrong_sign(w, x, b, y):
    dw, db = ref.neuron_grads(w, x, b, y)
    return -dw, -db


def _neuron_sigma_twice(w, x, b, y):
    a = torch.sigmoid(w @ x + b)
    return (a - y) * a * (1 - a) * x, (a - y) * a * (1 - a)


def _neuron_label_hardcoded(w, x, b, y):
    return ref.neuron_grads(w, x, b, 1.0)


def _neuron_db_as_vector(w, x, b, y):
    dw, db = ref.neuron_grads(w, x, b, y)
    return dw, db * torch.ones_like(x)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (_neuron_wrong_sign, "wrong sign"),
        (_neuron_sigma_twice, "once too often"),
        (_neuron_label_hardcoded, "label y"),
        (_neuron_db_as_vector, "wrong shape"),
        (lambda w, x, b, y: None, "pair"),
    ],
)
def test_neuron_check_names_the_mistake(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_neuron_grads(wrong)


def _sgd_with(mistake):
    def update(param, grad, buf, **settings):
        _, new_buf = sgd_update(param, grad, buf, **settings)
        return checks._sgd_mistake(mistake, param, grad, buf, settings), new_buf

    return update


@pytest.mark.parametrize("mistake", list(checks.SGD_HINTS))
def test_sgd_check_names_each_typical_mistake(mistake):
    with pytest.raises(AssertionError) as error:
        checks.check_sgd_update(_sgd_with(mistake))
    message = str(error.value)
    assert "differs from torch.optim.SGD at step" in message
    assert checks.SGD_HINTS[mistake] in message, message


def test_sgd_check_accepts_an_in_place_torch_style_answer(capsys):
    def in_place(
        param, grad, buf, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False
    ):
        grad = -grad if maximize else grad
        if weight_decay:
            grad = grad.add(param, alpha=weight_decay)
        if momentum:
            buf = grad.detach().clone() if buf is None else buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            grad = grad.add(buf, alpha=momentum) if nesterov else buf
        return param.add_(grad, alpha=-lr), buf

    checks.check_sgd_update(in_place)
    assert capsys.readouterr().out.startswith("✅")


def test_sgd_check_refuses_a_bare_tensor():
    with pytest.raises(AssertionError, match="pair"):
        checks.check_sgd_update(lambda param, grad, buf, **s: param - s["lr"] * grad)


def test_sgd_check_gives_the_order_when_the_mistake_is_unknown():
    def odd(param, grad, buf, **s):
        new_param, new_buf = sgd_update(param, grad, buf, **s)
        return new_param * 1.01, new_buf

    with pytest.raises(AssertionError, match="order of operations"):
        checks.check_sgd_update(odd)


def _backprop_no_mean(X, y, W1, b1, W2, b2):
    grads = ref.two_layer_backward(X, y, W1, b1, W2, b2)
    return {k: v * y.numel() for k, v in grads.items()}


def _backprop_bias_not_summed(X, y, W1, b1, W2, b2):
    H, y_hat = ref.two_layer_forward(X, W1, b1, W2, b2)
    grads = ref.two_layer_backward(X, y, W1, b1, W2, b2)
    grads["b2"] = 2 * (y_hat - y) / y.numel()
    return grads


def _backprop_wrong_tanh(X, y, W1, b1, W2, b2):
    H, y_hat = ref.two_layer_forward(X, W1, b1, W2, b2)
    dY = 2 * (y_hat - y) / y.numel()
    dZ = (dY @ W2.T) * (1 - torch.tanh(H) ** 2)  # tanh applied twice
    grads = ref.two_layer_backward(X, y, W1, b1, W2, b2)
    grads["W1"], grads["b1"] = X.T @ dZ, dZ.sum(0)
    return grads


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (_backprop_no_mean, "1 / y.numel"),
        (_backprop_bias_not_summed, "wrong shape"),
        (_backprop_wrong_tanh, "derivative is easy to write with H itself"),
        (lambda **kw: {"W1": None}, "dict with keys"),
    ],
)
def test_backprop_check_names_the_mistake(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_two_layer_backward(wrong)
