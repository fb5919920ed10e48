"""A tiny multilayer perceptron, by hand in numpy and in PyTorch (taught in notebook 02).

Notebook 02 fits the heat capacity Cp(T) of nitrogen gas with a 1-H-1 network::

    z1    = X @ W1 + b1        # (N, 1) @ (1, H) + (H,)  -> (N, H)
    h     = tanh(z1)           # (N, H)
    y_hat = h @ W2 + b2        # (N, H) @ (H, 1) + (1,)  -> (N, 1)
    loss  = mean((y_hat - y) ** 2)

With H = 10 that is 10 + 10 + 10 + 1 = 31 parameters. This module holds

- the data helpers: min-max scaling and the error metrics in physical units;
- the textbook baseline, a cubic polynomial fitted by least squares;
- the network by hand in numpy: ``init_params``, ``forward``, ``mse_loss``,
  ``backward``, ``numerical_gradients``, ``autograd_gradients`` (the same
  gradients from torch), ``gd_step`` and ``train_numpy``;
- the same network in PyTorch: ``make_mlp`` (``nn.Sequential``), ``MLP``
  (an ``nn.Module``), ``train_torch``, and ``fit_torch``, which returns a
  ``Fit`` that predicts in physical units.

numpy parameters are a dict of arrays with keys ``W1``, ``b1``, ``W2``, ``b2``.
``W1`` has shape (1, H): rows are inputs, columns are hidden units, so
``X @ W1`` needs no transpose. ``torch.nn.Linear`` stores the transpose
(shape (out, in)); ``params_from_torch`` and ``load_params_into`` convert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import trange

from course_lib.validation import as_bool, as_float, as_int, as_str

Params = dict[str, np.ndarray]
PARAM_NAMES: tuple[str, ...] = ("W1", "b1", "W2", "b2")


# --------------------------------------------------------------------------- data helpers


@dataclass(frozen=True)
class MinMaxScaler:
    """Map values linearly so that ``lo`` goes to 0 and ``hi`` goes to 1.

    Why: T runs from 300 to 2000 K. Fed raw into ``tanh(w * T + b)``, any
    weight of order 1 gives arguments in the hundreds, where tanh is flat and
    its gradient is zero. Scaled to [0, 1], inputs and targets are of order 1,
    and so are good weights, learning rates and gradients.
    """

    lo: float
    hi: float

    @classmethod
    def fit(cls, values: np.ndarray) -> MinMaxScaler:
        """Take ``lo`` and ``hi`` from the smallest and largest of ``values``."""
        values = np.asarray(values, dtype=float)
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError("MinMaxScaler.fit needs a non-empty array of finite numbers")
        lo, hi = float(values.min()), float(values.max())
        if hi == lo:
            raise ValueError(f"all values equal {lo}: there is no range to scale to [0, 1]")
        return cls(lo, hi)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Physical units -> [0, 1] (values outside the fitted range land outside [0, 1])."""
        return (np.asarray(values, dtype=float) - self.lo) / (self.hi - self.lo)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """[0, 1] -> physical units."""
        return np.asarray(scaled, dtype=float) * (self.hi - self.lo) + self.lo


def rmse(predicted: np.ndarray, true: np.ndarray) -> float:
    """Root-mean-square error, in the units of the inputs."""
    predicted, true = _same_shape(predicted, true)
    return float(np.sqrt(np.mean((predicted - true) ** 2)))


def max_relative_error(predicted: np.ndarray, true: np.ndarray) -> float:
    """Largest ``|predicted - true| / |true|``, as a fraction (0.012 means 1.2 %)."""
    predicted, true = _same_shape(predicted, true)
    return float(np.max(np.abs(predicted - true) / np.abs(true)))


def _same_shape(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"predictions have {a.size} values but the truth has {b.size}: pass matching arrays")
    return a, b


# --------------------------------------------------------------------------- the baseline


def fit_cubic(T: np.ndarray, cp: np.ndarray) -> np.ndarray:
    """Least-squares coefficients ``(a, b, c, d)`` of ``cp = a + b T + c T^2 + d T^3``.

    The columns 1, T, T^2, T^3 span ten orders of magnitude at T = 2000 K, so we
    solve in kilo-kelvin (columns of order 1) and convert the coefficients back
    to kelvin. The answer is the same; the arithmetic is better conditioned.
    """
    T, cp = np.asarray(T, dtype=float), np.asarray(cp, dtype=float)
    if T.shape != cp.shape or T.ndim != 1 or T.size < 4:
        raise ValueError("fit_cubic needs two 1-D arrays of the same length, with at least 4 points")
    A = np.vander(T / 1000.0, 4, increasing=True)
    coef_kk, *_ = np.linalg.lstsq(A, cp, rcond=None)
    return coef_kk / 1000.0 ** np.arange(4)


def eval_cubic(coef: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Evaluate ``a + b T + c T^2 + d T^3`` at the temperatures ``T``."""
    a, b, c, d = np.asarray(coef, dtype=float)
    T = np.asarray(T, dtype=float)
    return a + T * (b + T * (c + T * d))


# --------------------------------------------------------------------------- numpy, by hand


def count_parameters(hidden: int, n_in: int = 1, n_out: int = 1) -> int:
    """Weights and biases of an ``n_in``-``hidden``-``n_out`` network: 31 for 1-10-1."""
    return n_in * hidden + hidden + hidden * n_out + n_out


def init_params(hidden: int = 10, seed: int = 0) -> Params:
    """Random parameters of a 1-``hidden``-1 network.

    Every weight and bias is drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the
    same distribution ``torch.nn.Linear`` uses, so numpy and PyTorch start alike.
    """
    hidden = as_int(hidden, "hidden", minimum=1, hint="the number of hidden units, e.g. 10")
    rng = np.random.default_rng(as_int(seed, "seed"))
    bound2 = 1.0 / np.sqrt(hidden)
    return {
        "W1": rng.uniform(-1.0, 1.0, size=(1, hidden)),
        "b1": rng.uniform(-1.0, 1.0, size=(hidden,)),
        "W2": rng.uniform(-bound2, bound2, size=(hidden, 1)),
        "b2": rng.uniform(-bound2, bound2, size=(1,)),
    }


def forward(params: Params, X: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Forward pass. ``X`` has shape (N, 1); returns ``y_hat`` (N, 1) and a cache.

    The cache keeps what backpropagation needs again: the input ``X`` and the
    hidden activations ``h`` (tanh's derivative is ``1 - h**2``).
    """
    if X.ndim != 2 or X.shape[1] != params["W1"].shape[0]:
        raise ValueError(f"X must have shape (N, {params['W1'].shape[0]}), got {X.shape}: use X[:, None]")
    z1 = X @ params["W1"] + params["b1"]
    h = np.tanh(z1)
    y_hat = h @ params["W2"] + params["b2"]
    return y_hat, {"X": X, "z1": z1, "h": h}


def mse_loss(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error over all points."""
    _check_target(y_hat.shape, y.shape)
    return float(np.mean((y_hat - y) ** 2))


def _check_target(y_hat_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> None:
    # y of shape (N,) against y_hat (N, 1) would broadcast to (N, N): a wrong loss and wrong gradients, no error.
    if tuple(y_hat_shape) != tuple(y_shape):
        raise ValueError(f"y_hat has shape {tuple(y_hat_shape)} but y has {tuple(y_shape)}: make both (N, 1)")


def backward(params: Params, cache: dict[str, np.ndarray], y_hat: np.ndarray, y: np.ndarray) -> Params:
    """Gradients of ``mse_loss(y_hat, y)`` with respect to every parameter.

    The chain rule, from the loss back to the input, one layer at a time::

        d_yhat = 2 (y_hat - y) / N          # (N, 1)  dL/dy_hat
        dW2    = h.T @ d_yhat               # (H, 1)
        db2    = sum over N of d_yhat       # (1,)
        d_h    = d_yhat @ W2.T              # (N, H)
        d_z1   = d_h * (1 - h**2)           # (N, H)  tanh'(z) = 1 - tanh(z)^2
        dW1    = X.T @ d_z1                 # (1, H)
        db1    = sum over N of d_z1         # (H,)

    Each gradient has the shape of its parameter.
    """
    _check_target(y_hat.shape, y.shape)
    X, h = cache["X"], cache["h"]
    d_yhat = 2.0 * (y_hat - y) / y.size
    d_h = d_yhat @ params["W2"].T
    d_z1 = d_h * (1.0 - h**2)
    return {
        "W1": X.T @ d_z1,
        "b1": d_z1.sum(axis=0),
        "W2": h.T @ d_yhat,
        "b2": d_yhat.sum(axis=0),
    }


def numerical_gradients(params: Params, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> Params:
    """Central finite differences ``(L(p + eps) - L(p - eps)) / (2 eps)``, one parameter at a time.

    Slow (two forward passes per parameter) but obviously right: the yardstick
    for ``backward``. The error is of order ``eps**2`` plus rounding.
    """
    grads = {}
    for name in PARAM_NAMES:
        grad = np.zeros_like(params[name])
        for index in np.ndindex(params[name].shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][index] += eps
            loss_plus = mse_loss(forward(shifted, X)[0], y)
            shifted[name][index] -= 2 * eps
            loss_minus = mse_loss(forward(shifted, X)[0], y)
            grad[index] = (loss_plus - loss_minus) / (2 * eps)
        grads[name] = grad
    return grads


def autograd_gradients(params: Params, X: np.ndarray, y: np.ndarray) -> Params:
    """The same gradients from torch autograd, in float64: what ``loss.backward()`` automates."""
    leaves = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in params.items()}
    X_t, y_t = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    y_hat = torch.tanh(X_t @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"]
    _check_target(y_hat.shape, y_t.shape)
    torch.mean((y_hat - y_t) ** 2).backward()
    return {name: leaf.grad.numpy() for name, leaf in leaves.items()}


def gd_step(params: Params, grads: Params, lr: float) -> Params:
    """One step of gradient descent, ``p <- p - lr * dL/dp``, as new arrays."""
    return {name: params[name] - lr * grads[name] for name in PARAM_NAMES}


def train_numpy(
    X: np.ndarray,
    y: np.ndarray,
    hidden: int = 10,
    lr: float = 0.3,
    num_epochs: int = 5000,
    seed: int = 0,
) -> tuple[Params, list[float]]:
    """Full-batch gradient descent by hand; returns the parameters and the loss of every epoch."""
    if as_int(num_epochs, "num_epochs") < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    lr = as_float(lr, "lr", minimum=0.0)
    params = init_params(hidden, seed)
    losses = []
    for _ in range(num_epochs):
        y_hat, cache = forward(params, X)
        losses.append(mse_loss(y_hat, y))
        grads = backward(params, cache, y_hat, y)
        params = gd_step(params, grads, lr)
    if not np.isfinite(losses[-1]):
        raise FloatingPointError(f"the loss became {losses[-1]} at lr={lr}: lower the learning rate")
    return params, losses


# --------------------------------------------------------------------------- PyTorch

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def _activation(name: str) -> nn.Module:
    if as_str(name, "activation") not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def make_mlp(hidden: int = 10, activation: str = "tanh") -> nn.Sequential:
    """The 1-``hidden``-1 network as ``nn.Sequential(Linear, activation, Linear)``."""
    hidden = as_int(hidden, "hidden", minimum=1)
    return nn.Sequential(nn.Linear(1, hidden), _activation(activation), nn.Linear(hidden, 1))


class MLP(nn.Module):
    """The same network as an ``nn.Module`` subclass: layers in ``__init__``, wiring in ``forward``."""

    def __init__(self, hidden: int = 10, activation: str = "tanh") -> None:
        super().__init__()
        hidden = as_int(hidden, "hidden", minimum=1)
        self.hidden = nn.Linear(1, hidden)
        self.act = _activation(activation)
        self.out = nn.Linear(hidden, 1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(X)))


def _linears(model: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(layers) != 2:
        raise ValueError(f"expected a network with exactly two nn.Linear layers, found {len(layers)}")
    return layers[0], layers[1]


def params_from_torch(model: nn.Module) -> Params:
    """numpy copies of a 1-H-1 torch network's parameters, in this module's layout."""
    first, second = _linears(model)
    as_np = lambda t: t.detach().cpu().double().numpy().copy()
    return {
        "W1": as_np(first.weight).T,
        "b1": as_np(first.bias),
        "W2": as_np(second.weight).T,
        "b2": as_np(second.bias),
    }


def load_params_into(model: nn.Module, params: Params) -> nn.Module:
    """Copy numpy parameters into a 1-H-1 torch network (in place); returns the model."""
    first, second = _linears(model)
    with torch.no_grad():
        for layer, W, b in ((first, params["W1"], params["b1"]), (second, params["W2"], params["b2"])):
            if layer.weight.shape != W.T.shape:
                raise ValueError(f"shape mismatch: layer weight {tuple(layer.weight.shape)}, W.T {W.T.shape}")
            layer.weight.copy_(torch.as_tensor(W.T))
            layer.bias.copy_(torch.as_tensor(b))
    return model


def train_torch(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    num_epochs: int,
    lr: float = 0.05,
    method: str = "adam",
    cosine: bool = True,
    progress: bool = False,
) -> list[float]:
    """Full-batch training with ``method`` ("adam" or "sgd"); returns the loss before each update.

    With ``cosine=True`` the learning rate falls from ``lr`` to 0 along half a
    cosine over the ``num_epochs`` steps (as in GPT training): large steps
    early to travel, small steps late to settle into the minimum.

    Exercise 1 of notebook 02: find the forward pass, the loss, backpropagation
    and the update among the lines of the loop below. Losses are stored in a
    tensor and read once at the end, so a GPU is not made to wait every step.
    ``progress=True`` shows a progress bar.
    """
    if as_str(method, "method") not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer method {method!r}: choose one of {', '.join(OPTIMIZERS)}")
    num_epochs = as_int(num_epochs, "num_epochs", minimum=1)
    lr = as_float(lr, "lr", minimum=0.0)
    cosine, progress = as_bool(cosine, "cosine"), as_bool(progress, "progress")
    optimizer = OPTIMIZERS[method](model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=num_epochs) if cosine else None
    loss_fn = nn.MSELoss()
    losses = torch.zeros(num_epochs, dtype=X.dtype, device=X.device)
    for epoch in trange(num_epochs, disable=not progress, desc="training", mininterval=0.5):
        y_hat = model(X)
        loss = loss_fn(y_hat, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        losses[epoch] = loss.detach()
    return losses.tolist()


@dataclass
class Fit:
    """A trained torch network with the scalers that map physical units to its inputs and outputs."""

    model: nn.Module
    x_scaler: MinMaxScaler
    y_scaler: MinMaxScaler
    losses: list[float]

    def predict(self, T: np.ndarray) -> np.ndarray:
        """Cp in kJ/(kg K) at the temperatures ``T`` in K."""
        param = next(self.model.parameters())
        X = torch.as_tensor(self.x_scaler.transform(T), dtype=param.dtype, device=param.device)[:, None]
        with torch.no_grad():
            return self.y_scaler.inverse(self.model(X).cpu().double().numpy().ravel())


def fit_torch(
    T: np.ndarray,
    cp: np.ndarray,
    hidden: int = 10,
    activation: str = "tanh",
    num_epochs: int = 20000,
    lr: float = 0.05,
    method: str = "adam",
    cosine: bool = True,
    seed: int = 0,
    normalise: bool = True,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> Fit:
    """Scale the data, build a 1-``hidden``-1 network, train it full-batch and return a ``Fit``.

    With ``normalise=False`` the network sees T in K and Cp in kJ/(kg K) as they
    are (notebook 02, experiment 5).
    """
    T, cp = np.asarray(T, dtype=float), np.asarray(cp, dtype=float)
    seed = as_int(seed, "seed")
    if as_bool(normalise, "normalise"):
        x_scaler, y_scaler = MinMaxScaler.fit(T), MinMaxScaler.fit(cp)
    else:
        x_scaler, y_scaler = MinMaxScaler(0.0, 1.0), MinMaxScaler(0.0, 1.0)
    X = torch.tensor(x_scaler.transform(T), dtype=torch.float32, device=device)[:, None]
    y = torch.tensor(y_scaler.transform(cp), dtype=torch.float32, device=device)[:, None]
    torch.manual_seed(seed)
    model = make_mlp(hidden, activation).to(device)
    losses = train_torch(model, X, y, num_epochs, lr=lr, method=method, cosine=cosine, progress=progress)
    return Fit(model, x_scaler, y_scaler, losses)
