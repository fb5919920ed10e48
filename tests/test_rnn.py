"""Notebook 10: surname data, the Elman RNN against nn.RNN, GRU, teacher forcing, sampling, baselines."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from course_lib import checks, rnn, surnames
from course_lib.checks import rnn as rnn_checks
from course_lib.surnames import END, IGNORE_INDEX, START, Alphabet

SHARED = Path(os.environ.get("COURSE_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_names = pytest.mark.skipif(
    not (SHARED / "names" / "Arabic.txt").is_file(), reason=f"no local copy of the surname lists in {SHARED}"
)

ALPHABET = Alphabet("AbotMsTiO'NelYuKm")
TOY = {"English": ["Abbott", "Moss", "Tobi"], "Irish": ["O'Neill", "Olli"], "Korean": ["Yu", "Kim", "Kimi"]}


# --------------------------------------------------------------------------- data


@needs_names
def test_the_18_lists_hold_20050_surnames(monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(SHARED))
    names = surnames.load_surnames()
    assert list(names) == list(surnames.LANGUAGES) and len(names) == 18
    assert sum(len(v) for v in names.values()) == 20_050
    assert len(names["Russian"]) == 9_384 and len(names["Arabic"]) == 2_000 and len(names["Vietnamese"]) == 73
    assert "Nguyen" in names["Vietnamese"] and all(n == n.strip() and n for v in names.values() for n in v)
    assert "Müller" in names["German"]  # read as UTF-8, not bytes or Latin-1
    alphabet = surnames.build_alphabet(names)
    assert alphabet.chars[:2] == [START, END] and alphabet.vocab_size == 85


@needs_names
def test_a_corrupted_list_is_rejected(monkeypatch, tmp_path):
    (tmp_path / "names").mkdir()
    shutil.copy(SHARED / "names" / "Korean.txt", tmp_path / "names" / "Korean.txt")
    with open(tmp_path / "names" / "Korean.txt", "a", encoding="utf-8") as f:
        f.write("Kimm\n")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="sha256"):
        surnames.load_surnames(["Korean"])
    with pytest.raises(ValueError, match="unknown language 'Klingon'"):
        surnames.load_surnames(["Klingon"])


def test_alphabet_has_markers_and_refuses_what_it_does_not_know():
    assert ALPHABET.start_id == 0 and ALPHABET.end_id == 1 and ALPHABET.chars[0] == "<"
    ids = ALPHABET.encode("Kim")
    assert ALPHABET.decode(ids) == "Kim" and len(set(ids)) == 3 and min(ids) >= 2
    with pytest.raises(ValueError, match=r"\['z'\]"):
        ALPHABET.encode("Kimz")
    with pytest.raises(ValueError, match="reserved"):
        Alphabet("ab<")
    with pytest.raises(ValueError, match="outside"):
        ALPHABET.decode([99])


def test_split_is_seeded_per_language_and_deduplicated():
    data = {"A": [f"n{i}" for i in range(50)] + ["n1"] * 30, "B": [f"m{i}" for i in range(11)]}
    train, val = surnames.split_surnames(data, val_fraction=0.2, seed=3)
    again = surnames.split_surnames(data, val_fraction=0.2, seed=3)
    other = surnames.split_surnames(data, val_fraction=0.2, seed=4)
    assert (train, val) == again and val != other[1]
    assert len(val["A"]) == 10 and len(train["A"]) == 40  # 50 distinct names, not 80 lines
    assert len(val["B"]) == 2 and len(train["B"]) == 9
    for language in data:
        assert not set(train[language]) & set(val[language])
        assert sorted(train[language] + val[language]) == sorted(set(data[language]))
    with pytest.raises(ValueError, match="val_fraction"):
        surnames.split_surnames(data, val_fraction=1.0)


def test_teacher_forcing_pair_shifts_by_one_with_both_markers():
    x, y = surnames.teacher_forcing_pair("Abbott", ALPHABET)
    ids = ALPHABET.encode("Abbott")
    assert x.tolist() == [ALPHABET.start_id, *ids] and y.tolist() == [*ids, ALPHABET.end_id]
    assert x.dtype == torch.long and torch.equal(x[1:], y[:-1])
    x, y = surnames.teacher_forcing_pair("A", ALPHABET)
    assert ALPHABET.decode(x) == "<A" and ALPHABET.decode(y) == "A>"
    with pytest.raises(ValueError, match="non-empty"):
        surnames.teacher_forcing_pair("", ALPHABET)


def test_batches_are_one_hot_languages_with_padded_shifted_targets():
    loader = surnames.make_loader(TOY, ALPHABET, batch_size=8, shuffle=False, languages=("English", "Irish", "Korean"))
    languages, inputs, targets = next(iter(loader))
    assert languages.shape == (8, 3) and languages.dtype == torch.float32
    assert languages.sum(1).tolist() == [1.0] * 8 and languages.argmax(1).tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert inputs.shape == targets.shape == (8, len("O'Neill") + 1)
    row = 5  # "Yu": <Yu then padding; targets Yu> then ignored
    assert ALPHABET.decode(inputs[row, :3]) == "<Yu" and ALPHABET.decode(targets[row, :3]) == "Yu>"
    assert (targets[row, 3:] == IGNORE_INDEX).all() and (inputs[row, 3:] == ALPHABET.end_id).all()
    keep = targets != IGNORE_INDEX
    assert int(keep.sum()) == sum(len(n) + 1 for v in TOY.values() for n in v)
    assert torch.equal(inputs[:, 1:][keep[:, 1:]], targets[:, :-1][keep[:, 1:]])  # shifted by one
    with pytest.raises(ValueError, match="batch_size"):
        surnames.make_loader(TOY, ALPHABET, batch_size=0, shuffle=False)


# --------------------------------------------------------------------------- the recurrence vs torch


def test_elman_rnn_equals_nn_rnn_with_the_same_weights():
    torch.manual_seed(0)
    ours, theirs = rnn.ElmanRNN(7, 5), nn.RNN(7, 5, batch_first=True)
    theirs.load_state_dict(ours.state_dict())
    x, h0 = torch.randn(3, 6, 7), torch.randn(1, 3, 5)
    for initial in (None, h0):
        out, h = ours(x, initial)
        ref_out, ref_h = theirs(x, initial)
        assert_close(out, ref_out)
        assert_close(h, ref_h)
    out.sum().backward()
    ref_out.sum().backward()
    for name, p in ours.named_parameters():
        assert_close(p.grad, dict(theirs.named_parameters())[name].grad)
    with pytest.raises(ValueError, match=r"\[batch, time, 7\]"):
        ours(torch.randn(3, 6))


def test_rnn_step_is_one_step_of_nn_rnn_cell():
    torch.manual_seed(1)
    cell = nn.RNNCell(4, 3)
    x, h = torch.randn(2, 4), torch.randn(2, 3)
    got = rnn.rnn_step(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    assert_close(got, cell(x, h))


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_surname_model_equals_torch_recurrence_plus_linear_head(cell):
    torch.manual_seed(2)
    model = rnn.SurnameRNN(ALPHABET.vocab_size, num_languages=3, emb_dim=6, hidden_size=9, cell=cell)
    languages, inputs = torch.tensor([0, 2]), torch.randint(0, ALPHABET.vocab_size, (2, 5))
    logits, hidden = model(languages, inputs)
    one_hot = F.one_hot(languages, 3).float()
    x = torch.cat([model.embedding(inputs), one_hot[:, None].expand(2, 5, 3)], dim=-1)
    reference = (nn.GRU if cell == "gru" else nn.RNN)(9, 9, batch_first=True)
    reference.load_state_dict(model.rnn.state_dict())
    states, ref_hidden = reference(x)
    assert_close(logits, model.head(states))
    assert_close(hidden, ref_hidden)
    assert_close(model(one_hot, inputs)[0], logits)  # one-hot or ids, the same
    if cell == "rnn":  # the written-out loop, with nn.RNN's weights, gives the same logits
        elman = rnn.SurnameRNN(ALPHABET.vocab_size, num_languages=3, emb_dim=6, hidden_size=9, cell="elman")
        elman.load_state_dict(model.state_dict())
        assert_close(elman(languages, inputs)[0], logits)


def test_running_step_by_step_with_the_hidden_state_equals_one_pass():
    torch.manual_seed(3)
    for model in (rnn.SurnameRNN(ALPHABET.vocab_size, 3, 4, 8), rnn.TutorialRNN(ALPHABET.vocab_size, 3, 8, 0.0)):
        languages, inputs = torch.tensor([1, 0]), torch.randint(0, ALPHABET.vocab_size, (2, 6))
        whole, _ = model(languages, inputs)
        hidden, pieces = None, []
        for t in range(6):
            out, hidden = model(languages, inputs[:, t : t + 1], hidden)
            pieces.append(out)
        assert_close(torch.cat(pieces, 1), whole)


def test_tutorial_rnn_outputs_log_probabilities():
    torch.manual_seed(4)
    model = rnn.TutorialRNN(ALPHABET.vocab_size, 3, 8).eval()
    log_probs, hidden = model(torch.tensor([2]), torch.randint(0, ALPHABET.vocab_size, (1, 4)))
    assert log_probs.shape == (1, 4, ALPHABET.vocab_size) and hidden.shape == (1, 8)
    assert_close(log_probs.exp().sum(-1), torch.ones(1, 4))


def test_models_refuse_bad_input_clearly():
    model = rnn.SurnameRNN(ALPHABET.vocab_size, 3, 4, 8)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\)"):
        model(torch.tensor([3]), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(2, 3\), expected \[1, 3\]"):
        model(torch.zeros(2, 3), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="character ids must lie"):
        model(torch.tensor([0]), torch.full((1, 2), 99))
    with pytest.raises(ValueError, match=r"\[batch, time\]"):
        model(torch.tensor([0]), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="cell must be one of"):
        rnn.SurnameRNN(10, cell="lstm")
    gpt = rnn.SurnameGPT(ALPHABET.vocab_size, 3, emb_dim=8, num_heads=2, num_layers=1, context_length=8)
    with pytest.raises(ValueError, match="start marker"):
        gpt(torch.tensor([0]), torch.full((1, 3), 2))


# --------------------------------------------------------------------------- losses, baselines, sampling


def _toy_loaders():
    languages = ("English", "Irish", "Korean")
    return surnames.make_loader(TOY, ALPHABET, batch_size=4, shuffle=True, languages=languages)


def test_lm_loss_and_surprisal_by_language_agree_with_cross_entropy():
    torch.manual_seed(5)
    model = rnn.SurnameRNN(ALPHABET.vocab_size, 3, 4, 8).eval()
    loader = _toy_loaders()
    nats, chars = rnn.surprisal_by_language(model, loader, num_languages=3)
    assert chars.tolist() == [sum(len(n) + 1 for n in TOY[k]) for k in TOY]
    total, count = 0.0, 0
    for batch in loader:
        keep = batch[2] != IGNORE_INDEX
        total += rnn.lm_loss(model, batch).item() * int(keep.sum())
        count += int(keep.sum())
    assert math.isclose(nats.sum().item(), total, rel_tol=1e-5)
    assert math.isclose(rnn.evaluate(model, loader), total / count, rel_tol=1e-5)
    assert 0.8 * math.log(ALPHABET.vocab_size) < total / count < 1.2 * math.log(ALPHABET.vocab_size)  # untrained


def test_bigram_counts_and_smoothing():
    loader = _toy_loaders()
    bigram = rnn.BigramModel(ALPHABET.vocab_size, 3, k=5.0, alpha=0.1).fit(loader)
    probs = bigram.log_probs.exp()
    assert_close(probs.sum(-1), torch.ones(3, ALPHABET.vocab_size), rtol=0, atol=1e-5)
    k_id, i_id = ALPHABET.stoi["K"], ALPHABET.stoi["i"]
    assert bigram.counts[2, k_id, i_id] == 2  # Kim, Kimi (Korean); Irish "Kim" is gone from this toy set
    assert probs[2, k_id, i_id] > 0.5 and probs[0, k_id, i_id] > probs[0, k_id, ALPHABET.stoi["Y"]]
    assert probs.min() > 0  # smoothed: nothing is impossible


def test_training_lowers_the_loss_below_the_bigram():
    torch.manual_seed(6)
    loader = _toy_loaders()
    model = rnn.SurnameRNN(ALPHABET.vocab_size, 3, 8, 32)
    seen = []
    history = rnn.train_lm(model, loader, loader, num_steps=150, lr=1e-2, eval_every=50, callback=seen.append)
    assert history["step"] == [50, 100, 150] and len(seen) == 3
    bigram = rnn.evaluate(rnn.BigramModel(ALPHABET.vocab_size, 3).fit(loader), loader)
    assert history["val_loss"][-1] < bigram < history["val_loss"][0] + 1
    stopped = rnn.train_lm(model, loader, loader, num_steps=10**6, lr=1e-3, eval_every=10**6, max_seconds=0.0)
    assert stopped["step"] == [1]
    with pytest.raises(ValueError, match="num_steps"):
        rnn.train_lm(model, loader, loader, num_steps=0, lr=1e-3)


def test_free_running_loss_matches_teacher_forcing_on_a_sure_model():
    """A model sure of the true next character samples it, so both losses agree."""
    torch.manual_seed(7)
    loader = _toy_loaders()
    model = rnn.SurnameRNN(ALPHABET.vocab_size, 3, 8, 64)
    rnn.train_lm(model, loader, loader, num_steps=300, lr=1e-2, eval_every=300)
    model.eval()
    batch = next(iter(loader))
    teacher = rnn.lm_loss(model, batch).item()
    free = rnn.free_running_loss(model, batch, generator=torch.Generator().manual_seed(0)).item()
    assert teacher < 0.5 and free >= teacher - 1e-6
    whole = rnn.evaluate_free_running(model, [batch], generator=torch.Generator().manual_seed(0))
    assert math.isclose(whole, free, rel_tol=1e-6) and model.training is False
    with pytest.raises(ValueError, match="recurrent"):
        rnn.free_running_loss(rnn.BigramModel(ALPHABET.vocab_size, 3).fit(loader), batch)


def _trained_toy_model():
    torch.manual_seed(8)
    loader = _toy_loaders()
    model = rnn.SurnameRNN(ALPHABET.vocab_size, 3, 8, 32)
    rnn.train_lm(model, loader, loader, num_steps=100, lr=1e-2, eval_every=100)
    return model


def test_sampling_is_reproducible_with_a_seed_and_greedy_at_temperature_zero():
    model = _trained_toy_model()
    languages = ("English", "Irish", "Korean")

    def sample(seed, **kw):
        g = torch.Generator().manual_seed(seed)
        return rnn.sample_names(model, ALPHABET, "Korean", 20, generator=g, languages=languages, **kw)

    assert sample(0) == sample(0) and sample(0) != sample(1)
    assert len(set(sample(0, temperature=0))) == 1 and sample(0, temperature=0) == sample(1, temperature=0)
    assert all(name.startswith("Ki") for name in sample(0, prefix="Ki"))
    assert all(len(name) <= 4 for name in sample(0, max_length=4, temperature=3.0))
    assert model.training  # sampling switched to eval mode and back


def test_lower_temperature_gives_more_typical_names():
    model = _trained_toy_model()
    languages = ("English", "Irish", "Korean")
    distinct = {}
    for t in (0.2, 1.0, 5.0):
        names = rnn.sample_names(
            model, ALPHABET, 2, 200, temperature=t, generator=torch.Generator().manual_seed(0), languages=languages
        )
        distinct[t] = len(set(names))
    assert distinct[0.2] < distinct[1.0] < distinct[5.0]


def test_sampling_refuses_bad_arguments():
    model = rnn.SurnameRNN(ALPHABET.vocab_size, 3, 4, 8)
    kw = {"languages": ("English", "Irish", "Korean")}
    with pytest.raises(ValueError, match="temperature"):
        rnn.sample_names(model, ALPHABET, 0, temperature=-1.0, **kw)
    with pytest.raises(ValueError, match="unknown language 'Elvish'"):
        rnn.sample_names(model, ALPHABET, "Elvish", **kw)
    with pytest.raises(ValueError, match="language must be"):
        rnn.sample_names(model, ALPHABET, 3, **kw)
    with pytest.raises(ValueError, match="max_length"):
        rnn.sample_names(model, ALPHABET, 0, prefix="Abbott", max_length=4, **kw)
    with pytest.raises(ValueError, match="does not know"):
        rnn.sample_names(model, ALPHABET, 0, prefix="Zz", **kw)
    gpt = rnn.SurnameGPT(ALPHABET.vocab_size, 3, emb_dim=8, num_heads=2, num_layers=1, context_length=8)
    with pytest.raises(ValueError, match="context"):
        rnn.sample_names(gpt, ALPHABET, 0, max_length=20, **kw)
    assert len(rnn.sample_names(gpt, ALPHABET, 0, 3, max_length=7, generator=torch.Generator(), **kw)) == 3


def test_gpt_sees_the_language_as_its_first_token():
    torch.manual_seed(9)
    gpt = rnn.SurnameGPT(ALPHABET.vocab_size, 3, emb_dim=8, num_heads=2, num_layers=1, context_length=8).eval()
    inputs = torch.tensor([[0, 5, 6], [0, 5, 6]])
    logits, hidden = gpt(torch.tensor([0, 2]), inputs)
    assert hidden is None and logits.shape == (2, 3, ALPHABET.vocab_size)
    tokens = torch.tensor([[ALPHABET.vocab_size + 0, 5, 6], [ALPHABET.vocab_size + 2, 5, 6]])
    assert_close(logits, gpt.gpt(tokens)[..., : ALPHABET.vocab_size])


def test_gradient_reach_fades_through_a_plain_rnn_but_not_through_attention():
    torch.manual_seed(10)
    inputs = torch.randint(2, ALPHABET.vocab_size, (4, 30))
    inputs[:, 0] = ALPHABET.start_id
    targets = torch.randint(2, ALPHABET.vocab_size, (4, 30))
    languages = torch.tensor([0, 1, 2, 0])
    plain = rnn.SurnameRNN(ALPHABET.vocab_size, 3, 8, 32, cell="rnn")
    reach = rnn.gradient_reach(plain, languages, inputs, targets)
    assert reach.shape == (30,) and reach[-2] > 100 * reach[1]  # decays with distance
    gpt = rnn.SurnameGPT(ALPHABET.vocab_size, 3, emb_dim=16, num_heads=2, num_layers=2, context_length=32)
    reach_gpt = rnn.gradient_reach(gpt, languages, inputs, targets)
    earlier = reach_gpt[:-1]  # all earlier positions reach the last through attention: no decay
    assert earlier.max() < 10 * earlier.min()
    assert all(p.grad is None for p in plain.parameters())  # nothing left behind


# --------------------------------------------------------------------------- checks


def _right_step(x, h, w_ih, w_hh, b_ih, b_hh):
    return torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


def test_check_rnn_step_accepts_right_answers_and_names_typical_mistakes(capsys):
    rnn_checks.check_rnn_step(_right_step)
    rnn_checks.check_rnn_step(lambda *a: _right_step(*[t.double() for t in a]))  # float64 is right too
    assert capsys.readouterr().out.count("✅") == 2
    mistakes = {
        "both biases": lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + h @ wh.T),
        "bias_hh is missing": lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + bi + h @ wh.T),
        "tanh is missing": lambda x, h, wi, wh, bi, bh: x @ wi.T + bi + h @ wh.T + bh,
        "previous state": lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + bi + bh),
        "weight_ih.T": lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi + bi + h @ wh.T + bh),
        "h @ weight_hh.T": lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + bi + h @ wh + bh),
        "return": lambda *a: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(AssertionError, match=hint.replace(".", r"\.")):
            rnn_checks.check_rnn_step(wrong)


def test_check_teacher_forcing_pair_accepts_lists_and_names_typical_mistakes(capsys):
    rnn_checks.check_teacher_forcing_pair(surnames.teacher_forcing_pair)
    rnn_checks.check_teacher_forcing_pair(lambda name, a: ([a.start_id, *a.encode(name)], [*a.encode(name), a.end_id]))
    assert capsys.readouterr().out.count("✅") == 2

    def no_end(name, a):
        ids = a.encode(name)
        return torch.tensor([a.start_id, *ids]), torch.tensor(ids)

    def no_shift(name, a):
        x = torch.tensor([a.start_id, *a.encode(name)])
        return x, x.clone()

    def swapped(name, a):
        x, y = surnames.teacher_forcing_pair(name, a)
        return y, x

    def shifted_twice(name, a):
        ids = a.encode(name)
        return torch.tensor([a.start_id, *ids]), torch.tensor([*ids[1:], a.end_id, a.end_id])

    def no_markers(name, a):
        ids = torch.tensor(a.encode(name))
        return ids, ids

    for wrong, hint in (
        (no_end, "end marker last"),
        (no_shift, "shifted by one"),
        (swapped, "swapped"),
        (shifted_twice, "character after input t"),
        (no_markers, "one id is missing on each side"),
    ):
        with pytest.raises(AssertionError, match=hint):
            rnn_checks.check_teacher_forcing_pair(wrong)


def test_checks_say_when_an_exercise_is_not_done():
    def stub(*args):
        raise NotImplementedError

    for check in (rnn_checks.check_rnn_step, rnn_checks.check_teacher_forcing_pair):
        with pytest.raises(checks.ExerciseNotDone, match="not done yet"):
            check(stub)
