"""Run profiles, device and seed helpers, checks, and packaging invariants."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import checks
from course_lib.profiles import choose, get_profile
from course_lib.runtime import best_time, pick_device, seed_everything, show_versions, versions

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


# ---- profiles ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu", " CPU "])
def test_profile_comes_from_the_environment(monkeypatch, name):
    monkeypatch.setenv("COURSE_PROFILE", name)
    assert get_profile() == name.strip().lower()


def test_unset_profile_follows_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_profile() == "gpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile() == "cpu"


def test_invalid_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "laptop")
    with pytest.raises(ValueError, match=r"'laptop' is not a run profile.*smoke, cpu, gpu"):
        get_profile()


def test_choose_picks_per_profile_values_and_shares_scalars():
    settings = choose("cpu", num_epochs={"smoke": 2, "cpu": 300, "gpu": 3000}, hidden=10)
    assert (settings.profile, settings.num_epochs, settings.hidden) == ("cpu", 300, 10)
    assert choose("smoke", num_epochs={"smoke": 2, "cpu": 300, "gpu": 3000}).num_epochs == 2


def test_choose_rejects_incomplete_settings():
    with pytest.raises(ValueError, match=r"num_epochs.*missing \['gpu'\]"):
        choose("cpu", num_epochs={"smoke": 2, "cpu": 300})
    with pytest.raises(ValueError, match="unknown profile"):
        choose("tpu", hidden=3)


# ---- runtime ----------------------------------------------------------------


def test_device_is_cpu_without_cuda_and_mps_only_on_request(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("cpu")
    assert pick_device(allow_mps=True) == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(allow_mps=True) == torch.device("cuda")
    assert pick_device(tiny=True) == torch.device("cpu")  # launch-bound problems stay on the CPU
    assert pick_device(allow_mps=True, tiny=True) == torch.device("cpu")


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3)

    seed_everything(123)
    first = draw()
    seed_everything(123)
    second = draw()
    assert first[:2] == second[:2]
    torch.testing.assert_close(first[2], second[2])


def test_best_time_warms_up_then_keeps_the_fastest_run(monkeypatch):
    calls = []
    clock = iter([0.0, 5.0, 10.0, 12.0, 20.0, 23.0])  # timed runs of 5 s, 2 s and 3 s
    monkeypatch.setattr("course_lib.runtime.time.perf_counter", lambda: next(clock))
    assert best_time(lambda: calls.append(1), repeats=3, warmup=2) == 2.0
    assert len(calls) == 5, "two untimed warm-up runs, then three timed ones"
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        best_time(lambda: None, repeats=0)


def test_versions_are_printed(capsys):
    assert versions()["torch"] == torch.__version__
    show_versions("smoke", torch.device("cpu"))
    out = capsys.readouterr().out
    assert "torch" in out and "profile: smoke" in out and "device: cpu" in out


# ---- checks -----------------------------------------------------------------


def test_expect_close_passes_equal_values_and_explains_failures():
    checks.expect_close(torch.ones(2, 3), np.ones((2, 3)), what="ones", hint="none needed")
    with pytest.raises(AssertionError, match=r"wrong shape[\s\S]*\(2, 3\)[\s\S]*\(3, 2\)[\s\S]*transpose"):
        checks.expect_close(torch.ones(3, 2), torch.ones(2, 3), what="ones", hint="h")
    with pytest.raises(AssertionError, match=r"largest difference 0\.5[\s\S]*hint: add b"):
        checks.expect_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]), what="sum", hint="add b")
    with pytest.raises(AssertionError, match="forget `return`"):
        checks.expect_close(None, 1.0, what="value", hint="h")


def test_passed_prints_one_line(capsys):
    checks.passed("softmax matches the reference")
    assert capsys.readouterr().out.count("\n") == 1


# ---- packaging --------------------------------------------------------------


def test_importing_course_lib_is_light():
    code = (
        "import sys, course_lib, course_lib.profiles, course_lib.data, course_lib.authoring, course_lib.checks;"
        "heavy = {'transformers', 'tiktoken', 'pooch', 'requests', 'pandas', 'matplotlib'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _pyproject(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())


def test_dependencies_are_lower_bounds_only(root: Path):
    project = _pyproject(root)["project"]
    specs = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    for spec in specs:
        version = spec.split(";")[0]  # an environment marker may compare Python versions
        assert not re.search(r"==|<|~=", version), f"{spec!r}: use lower bounds only, so Colab's versions install"
    names = {re.split(r"[<>=\[ ;]", s)[0].lower() for s in project["dependencies"]}
    assert {"torch", "ipywidgets", "pooch", "tiktoken", "tqdm"} <= names


def test_environment_yml_follows_pyproject(root: Path):
    text = (root / "environment.yml").read_text()
    python = re.search(r"^\s*-\s*python\s*(\S*)\s*$", text, re.M)
    assert python, "environment.yml must pin python's lower bound"
    assert python.group(1) == _pyproject(root)["project"]["requires-python"]
    installs = re.findall(r"^\s*-\s*(-e\s+)?\"?\.\[([\w,]+)\]\"?\s*$", text, re.M)
    assert installs, "environment.yml must pip-install the project itself"
    extras = set(installs[0][1].split(","))
    assert extras <= set(_pyproject(root)["project"]["optional-dependencies"])
    dependencies = text.split("dependencies:", 1)[1]
    conda_deps = re.findall(r"^  - (?!pip:)(\S+)", dependencies, re.M)
    assert {re.split(r"[<>=]", d)[0] for d in conda_deps} == {"python", "pip"}, (
        "only python and pip come from conda; everything else comes from pyproject.toml"
    )


def test_ci_runs_the_readme_test_command(root: Path):
    readme = (root / "README.md").read_text()
    command = re.search(r"^(\S.*?)\s+# run every test and notebook$", readme, re.M)
    assert command, "README must give the test command, commented '# run every test and notebook'"
    assert command.group(1) in (root / ".ci" / "run").read_text()
