"""Tests for notebook 02: the N2 heat-capacity data, course_lib.mlp and course_lib.checks.mlp."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import mlp
from course_lib.checks import mlp as checks_mlp

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("n2_cp.csv", "n2_cp_extrapolation.csv")


def _read(name: str) -> tuple[np.ndarray, np.ndarray]:
    with (ROOT / "data" / name).open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["T_K", "Cp_kJ_per_kgK"]
    table = np.array(rows[1:], dtype=float)
    return table[:, 0], table[:, 1]


def _n2() -> tuple[np.ndarray, np.ndarray]:
    return _read("n2_cp.csv")


# --------------------------------------------------------------------------- the data


@pytest.mark.parametrize("name", TABLES)
def test_package_copy_is_identical_to_data_copy(name):
    data_copy = (ROOT / "data" / name).read_bytes()
    package_copy = (ROOT / "course_lib" / "resources" / name).read_bytes()
    assert data_copy == package_copy, f"run `python data/make_n2_cp.py` to rewrite both copies of {name}"


def test_training_table_rows_and_first_values():
    T, cp = _n2()
    np.testing.assert_array_equal(T, np.arange(300, 2001, 50))
    assert len(T) == 35
    assert [round(v, 4) for v in cp[:3]] == [1.0413, 1.0423, 1.0450]
    assert np.all(np.diff(cp[2:]) > 0), "Cp rises monotonically above 400 K"
    assert 1.28 < cp[-1] < 1.29


def test_extrapolation_table():
    T, cp = _read("n2_cp_extrapolation.csv")
    np.testing.assert_array_equal(T, [275, 2100])
    np.testing.assert_allclose(cp, [1.041377, 1.289628], atol=1e-6)


def test_tables_agree_with_coolprop():
    CP = pytest.importorskip(
        "CoolProp.CoolProp",
        reason="CoolProp is not installed (pip install 'course_lib[coolprop]'); the CSVs are checked against it "
        "only where it is available",
    )
    for name in TABLES:
        T, cp = _read(name)
        fresh = np.array([CP.PropsSI("Cpmass", "T", t, "P", 1e5, "Nitrogen") / 1000 for t in T])
        # The CSV keeps 6 decimals: rounding is at most 5e-7, far below the notebook's 5e-4 RMSE target.
        np.testing.assert_allclose(cp, fresh, rtol=0, atol=1e-6, err_msg=f"{name} differs from CoolProp")


def test_loaders_return_the_package_tables():
    data = pytest.importorskip("course_lib.data")
    frame = data.load_n2_cp()
    assert list(frame.columns) == ["T_K", "Cp_kJ_per_kgK"]
    T, cp = _n2()
    np.testing.assert_array_equal(frame["T_K"].to_numpy(), T)
    np.testing.assert_array_equal(frame["Cp_kJ_per_kgK"].to_numpy(), cp)
    extra = data.load_n2_cp_extrapolation()
    np.testing.assert_array_equal(extra["T_K"].to_numpy(), [275, 2100])


# --------------------------------------------------------------------------- baseline and helpers


def test_cubic_baseline_figures():
    T, cp = _n2()
    coef = mlp.fit_cubic(T, cp)
    np.testing.assert_allclose(coef, np.polynomial.polynomial.polyfit(T, cp, 3), rtol=1e-6)
    predicted = mlp.eval_cubic(coef, T)
    assert mlp.rmse(predicted, cp) == pytest.approx(0.004705, abs=2e-6)
    assert mlp.max_relative_error(predicted, cp) == pytest.approx(0.011902, abs=2e-6)


def test_scaler_round_trip_and_errors():
    T, _ = _n2()
    scaler = mlp.MinMaxScaler.fit(T)
    scaled = scaler.transform(T)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    np.testing.assert_allclose(scaler.inverse(scaled), T)
    with pytest.raises(ValueError, match="no range"):
        mlp.MinMaxScaler.fit(np.ones(3))
    with pytest.raises(ValueError, match="matching"):
        mlp.rmse(np.ones(3), np.ones(4))


# --------------------------------------------------------------------------- numpy network


def test_parameter_count_matches_torch():
    for hidden in (2, 10, 50):
        assert mlp.count_parameters(hidden) == 3 * hidden + 1
        assert sum(p.numel() for p in mlp.make_mlp(hidden).parameters()) == 3 * hidden + 1
        assert sum(v.size for v in mlp.init_params(hidden).values()) == 3 * hidden + 1
    assert mlp.count_parameters(10) == 31


def test_numpy_forward_equals_torch_sequential_and_module():
    params = mlp.init_params(10, seed=3)
    X = np.linspace(0, 1, 35)[:, None]
    y_np, _ = mlp.forward(params, X)
    for model in (mlp.make_mlp(10), mlp.MLP(10)):
        mlp.load_params_into(model.double(), params)
        y_torch = model(torch.as_tensor(X))
        torch.testing.assert_close(y_torch, torch.as_tensor(y_np), rtol=1e-12, atol=1e-12)
        back = mlp.params_from_torch(model)
        for name in mlp.PARAM_NAMES:
            np.testing.assert_array_equal(back[name], params[name])


def test_backward_equals_finite_differences_and_autograd():
    params = mlp.init_params(10, seed=4)
    rng = np.random.default_rng(4)
    X, y = rng.uniform(size=(35, 1)), rng.uniform(size=(35, 1))
    y_hat, cache = mlp.forward(params, X)
    grads = mlp.backward(params, cache, y_hat, y)
    numeric = mlp.numerical_gradients(params, X, y)
    auto = mlp.autograd_gradients(params, X, y)
    for name in mlp.PARAM_NAMES:
        assert grads[name].shape == params[name].shape
        torch.testing.assert_close(torch.as_tensor(grads[name]), torch.as_tensor(auto[name]), rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(torch.as_tensor(grads[name]), torch.as_tensor(numeric[name]), rtol=1e-5, atol=1e-9)


def test_numpy_training_is_reproducible_and_learns():
    T, cp = _n2()
    X = mlp.MinMaxScaler.fit(T).transform(T)[:, None]
    y = mlp.MinMaxScaler.fit(cp).transform(cp)[:, None]
    params, losses = mlp.train_numpy(X, y, hidden=10, lr=0.3, num_epochs=2000, seed=0)
    _, again = mlp.train_numpy(X, y, hidden=10, lr=0.3, num_epochs=2000, seed=0)
    assert losses == again
    assert losses[-1] < losses[0] / 50
    assert losses[-1] < 2e-3
    assert mlp.mse_loss(mlp.forward(params, X)[0], y) <= losses[-1]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_numpy_training_reports_divergence():
    X = np.linspace(0, 1, 35)[:, None]
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        mlp.train_numpy(X, X**2, lr=1e3, num_epochs=200)


# --------------------------------------------------------------------------- torch network


def test_torch_and_numpy_gradient_descent_take_the_same_steps():
    T, cp = _n2()
    X = mlp.MinMaxScaler.fit(T).transform(T)[:, None]
    y = mlp.MinMaxScaler.fit(cp).transform(cp)[:, None]
    params, losses_np = mlp.train_numpy(X, y, hidden=10, lr=0.3, num_epochs=50, seed=5)
    model = mlp.load_params_into(mlp.make_mlp(10).double(), mlp.init_params(10, seed=5))
    losses_torch = mlp.train_torch(
        model, torch.as_tensor(X), torch.as_tensor(y), num_epochs=50, lr=0.3, method="sgd", cosine=False
    )
    np.testing.assert_allclose(losses_torch, losses_np, rtol=1e-10)
    for name, value in mlp.params_from_torch(model).items():
        np.testing.assert_allclose(value, params[name], rtol=1e-10, atol=1e-12)


def test_fit_torch_beats_cubic_quickly():
    T, cp = _n2()
    fit = mlp.fit_torch(T, cp, hidden=10, num_epochs=1500, lr=0.03, cosine=False, seed=0)
    assert fit.losses[-1] < fit.losses[0] / 100
    assert mlp.rmse(fit.predict(T), cp) < mlp.rmse(mlp.eval_cubic(mlp.fit_cubic(T, cp), T), cp)


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.make_mlp(10, "gelu2")
    with pytest.raises(ValueError, match="unknown optimizer method"):
        mlp.train_torch(mlp.make_mlp(2), torch.zeros(3, 1), torch.zeros(3, 1), 1, method="lbfgs")
    with pytest.raises(ValueError, match=r"X must have shape \(N, 1\)"):
        mlp.forward(mlp.init_params(3), np.zeros(5))
    with pytest.raises(ValueError, match="num_epochs must be at least 1, got 0"):
        mlp.train_numpy(np.zeros((5, 1)), np.zeros((5, 1)), num_epochs=0)
    # y of shape (N,) would broadcast against y_hat (N, 1) to (N, N): every gradient function refuses it.
    params, X, y_flat = mlp.init_params(3), np.zeros((5, 1)), np.zeros(5)
    y_hat, cache = mlp.forward(params, X)
    for call in (
        lambda: mlp.mse_loss(y_hat, y_flat),
        lambda: mlp.backward(params, cache, y_hat, y_flat),
        lambda: mlp.autograd_gradients(params, X, y_flat),
    ):
        with pytest.raises(ValueError, match=r"y_hat has shape \(5, 1\) but y has \(5,\)"):
            call()


# --------------------------------------------------------------------------- the checks


def test_checks_pass_with_the_reference(capsys):
    checks_mlp.check_fit_cubic(mlp.fit_cubic)
    checks_mlp.check_forward(mlp.forward)
    checks_mlp.check_backward(mlp.backward)
    checks_mlp.check_gd_step(mlp.gd_step)
    checks_mlp.check_locate_steps(lambda: dict(checks_mlp.TRAINING_STEPS))
    assert capsys.readouterr().out.count("✅") == 5


def test_checks_fail_with_helpful_hints():
    with pytest.raises(AssertionError, match="wrong order"):
        checks_mlp.check_fit_cubic(lambda T, cp: np.polyfit(T, cp, 3))

    def no_tanh(params, X):
        z1 = X @ params["W1"] + params["b1"]
        return z1 @ params["W2"] + params["b2"], {"X": X, "z1": z1, "h": z1}

    with pytest.raises(AssertionError, match="followed by the activa"):
        checks_mlp.check_forward(no_tanh)

    def half_gradient(params, cache, y_hat, y):
        return {k: v / 2 for k, v in mlp.backward(params, cache, y_hat, y).items()}

    with pytest.raises(AssertionError, match="half the true value"):
        checks_mlp.check_backward(half_gradient)

    with pytest.raises(AssertionError, match="uphill"):
        checks_mlp.check_gd_step(lambda p, g, lr: {k: p[k] + lr * g[k] for k in p})

    wrong = dict(checks_mlp.TRAINING_STEPS, update="optimizer.zero_grad()")
    with pytest.raises(AssertionError, match="zero_grad does not change weights"):
        checks_mlp.check_locate_steps(lambda: wrong)
