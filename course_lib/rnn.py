"""Recurrent language models: the Elman RNN written out, a GRU, training, sampling (notebook 10).

Taught in notebook 10 (``10_rnn_language_model``). Before transformers, a
language model read text one token at a time and carried everything it had
read in one vector, the **hidden state**. The Elman recurrence updates it::

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

and an output layer turns each ``h_t`` into scores (logits) for the next
character. The pieces, bottom up:

- :func:`rnn_step` and :class:`ElmanRNN`: one step, then the loop over time,
  with the parameter names and shapes of ``torch.nn.RNN`` so that the two load
  each other's weights and agree.
- :class:`SurnameRNN`: embedding + language one-hot -> ``ElmanRNN``,
  ``nn.RNN`` or ``nn.GRU`` -> linear head; the model the notebook trains.
- :class:`TutorialRNN`: the one-step design of the classic PyTorch
  name-generation tutorial (language, character and hidden state concatenated,
  dropout, log-softmax), written afresh.
- :class:`BigramModel` (a counting baseline) and :class:`SurnameGPT` (notebook
  05's ``GPTModel`` with a language token), with the same call signature, so
  one evaluation function serves all.
- :func:`train_lm` (teacher forcing), :func:`free_running_loss` (the model
  reads its own samples), :func:`sample_names` (temperature, seeded),
  :func:`surprisal_by_language` and :func:`gradient_reach` (how much the last
  prediction depends on inputs far back: vanishing gradients).

Every model here is called as ``model(languages, inputs, hidden=None) -> (logits, hidden)``
with ``languages`` a one-hot ``[B, num_languages]`` (or language ids ``[B]``),
``inputs`` character ids ``[B, T]`` and ``logits`` ``[B, T, vocab_size]``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from itertools import cycle

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.surnames import IGNORE_INDEX, LANGUAGES, Alphabet

__all__ = [
    "rnn_step",
    "ElmanRNN",
    "SurnameRNN",
    "TutorialRNN",
    "BigramModel",
    "SurnameGPT",
    "lm_loss",
    "free_running_loss",
    "train_lm",
    "evaluate",
    "evaluate_free_running",
    "surprisal_by_language",
    "sample_names",
    "gradient_reach",
]


# --------------------------------------------------------------------------- the recurrence


def rnn_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> torch.Tensor:
    """One Elman step: ``tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``, for a batch.

    ``x`` is ``[B, input_size]``, ``h`` is ``[B, hidden_size]``; the weights are
    stored as ``nn.RNN`` stores them, ``[hidden_size, input_size]`` and
    ``[hidden_size, hidden_size]``, hence the transposes. ``nn.RNN`` keeps two
    biases; only their sum matters.
    """
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)


class ElmanRNN(nn.Module):
    """A one-layer tanh RNN, the loop over time written out; a drop-in for ``nn.RNN(batch_first=True)``.

    The parameters have ``nn.RNN``'s names and shapes (``weight_ih_l0``,
    ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``) and its initialisation,
    uniform in ``[-1/sqrt(hidden_size), 1/sqrt(hidden_size)]``, so
    ``load_state_dict`` works both ways. ``forward(x [B, T, input_size], h0
    [1, B, hidden_size] or None)`` returns every hidden state ``[B, T,
    hidden_size]`` and the last one ``[1, B, hidden_size]``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected x of shape [batch, time, {self.input_size}], got {tuple(x.shape)}: "
                "batch first, one input vector per time step"
            )
        h = x.new_zeros(x.shape[0], self.hidden_size) if h0 is None else h0[0]
        outputs = []
        for t in range(x.shape[1]):
            h = rnn_step(x[:, t], h, self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)


def _language_one_hot(languages: torch.Tensor, num_languages: int, batch: int) -> torch.Tensor:
    """Accept a one-hot ``[B, num_languages]`` or language ids ``[B]``; return the float one-hot."""
    if not isinstance(languages, torch.Tensor):
        raise TypeError(f"languages must be a tensor (one-hot [B, {num_languages}] or ids [B])")
    if languages.dim() == 1 and not languages.is_floating_point():
        if languages.numel() and (int(languages.min()) < 0 or int(languages.max()) >= num_languages):
            raise ValueError(f"language ids must lie in [0, {num_languages}), got {languages.tolist()}")
        languages = F.one_hot(languages, num_languages).float()
    if languages.shape != (batch, num_languages):
        raise ValueError(
            f"languages has shape {tuple(languages.shape)}, expected [{batch}, {num_languages}] "
            f"(one row per name in the batch) or language ids of shape [{batch}]"
        )
    return languages.float()


def _check_inputs(inputs: torch.Tensor, vocab_size: int) -> None:
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 2 or inputs.is_floating_point():
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be integer character ids of shape [batch, time], got {shape}")
    if inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= vocab_size):
        raise ValueError(
            f"character ids must lie in [0, {vocab_size}), got {int(inputs.min())}..{int(inputs.max())}: "
            "encode with the alphabet the model was built for"
        )


class SurnameRNN(nn.Module):
    """A language-conditioned character model: embedding + language one-hot -> RNN -> linear head.

    At every step the input is the character's embedding (``emb_dim``)
    concatenated with the language one-hot, so the language is never forgotten.
    ``cell`` picks the recurrence: ``"elman"`` (:class:`ElmanRNN`, the loop in
    Python), ``"rnn"`` (``nn.RNN``, the same maths in one fused kernel) or
    ``"gru"`` (``nn.GRU``, gated, so gradients survive longer). ``dropout``
    acts on the hidden states before the head.
    """

    CELLS = ("elman", "rnn", "gru")

    def __init__(
        self,
        vocab_size: int,
        num_languages: int = len(LANGUAGES),
        emb_dim: int = 32,
        hidden_size: int = 128,
        cell: str = "gru",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in self.CELLS:
            raise ValueError(f"cell must be one of {self.CELLS}, got {cell!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")
        self.vocab_size, self.num_languages, self.cell = vocab_size, num_languages, cell
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        input_size = emb_dim + num_languages
        if cell == "elman":
            self.rnn: nn.Module = ElmanRNN(input_size, hidden_size)
        elif cell == "rnn":
            self.rnn = nn.RNN(input_size, hidden_size, batch_first=True)
        else:
            self.rnn = nn.GRU(input_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(
        self, languages: torch.Tensor, inputs: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_inputs(inputs, self.vocab_size)
        batch, steps = inputs.shape
        one_hot = _language_one_hot(languages, self.num_languages, batch).to(self.head.weight.device)
        x = torch.cat([self.embedding(inputs), one_hot[:, None, :].expand(batch, steps, -1)], dim=-1)
        states, hidden = self.rnn(x, hidden)
        return self.head(self.dropout(states)), hidden


class TutorialRNN(nn.Module):
    """The classic tutorial's generator: language, character and hidden state concatenated, one step at a time.

    One step (:meth:`step`): ``combined = [language one-hot, character one-hot,
    h]``; the new hidden state is ``tanh(Linear(combined))`` (the tutorial
    leaves it linear; the tanh makes it an Elman cell and keeps it bounded); a
    first output ``Linear(combined)`` and the new hidden state go through a
    second linear layer, dropout and a log-softmax. The log-probabilities are
    valid logits, so :func:`lm_loss` and :func:`sample_names` work unchanged.
    """

    def __init__(self, vocab_size: int, num_languages: int = len(LANGUAGES), hidden_size: int = 128,
                 dropout: float = 0.1) -> None:  # fmt: skip
        super().__init__()
        self.vocab_size, self.num_languages, self.hidden_size = vocab_size, num_languages, hidden_size
        combined = num_languages + vocab_size + hidden_size
        self.to_hidden = nn.Linear(combined, hidden_size)
        self.to_output = nn.Linear(combined, vocab_size)
        self.mix = nn.Linear(hidden_size + vocab_size, vocab_size)
        self.dropout = nn.Dropout(dropout)

    def step(
        self, language: torch.Tensor, char: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: one-hots ``[B, num_languages]``, ``[B, vocab_size]`` and ``hidden [B, hidden_size]``."""
        combined = torch.cat([language, char, hidden], dim=1)
        hidden = torch.tanh(self.to_hidden(combined))
        output = self.mix(torch.cat([hidden, self.to_output(combined)], dim=1))
        return F.log_softmax(self.dropout(output), dim=1), hidden

    def forward(
        self, languages: torch.Tensor, inputs: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_inputs(inputs, self.vocab_size)
        batch = inputs.shape[0]
        language = _language_one_hot(languages, self.num_languages, batch).to(self.mix.weight.device)
        if hidden is None:
            hidden = language.new_zeros(batch, self.hidden_size)
        chars = F.one_hot(inputs, self.vocab_size).float()
        outputs = []
        for t in range(inputs.shape[1]):
            log_probs, hidden = self.step(language, chars[:, t], hidden)
            outputs.append(log_probs)
        return torch.stack(outputs, dim=1), hidden


# --------------------------------------------------------------------------- baselines with the same call


class BigramModel(nn.Module):
    """A counting baseline: ``p(next | previous character, language)``, smoothed.

    Counts come from training batches (:meth:`fit`). Each language's counts are
    blended with the counts of all languages pooled, so a rare pair in a small
    language borrows from the others::

        p(b | a, lang) = (n_lang(a, b) + k * p_all(b | a)) / (n_lang(a) + k)
        p_all(b | a)  = (n_all(a, b) + alpha) / (n_all(a) + alpha * V)

    ``forward`` returns the log-probabilities as logits; no hidden state.
    """

    def __init__(self, vocab_size: int, num_languages: int = len(LANGUAGES), k: float = 5.0,
                 alpha: float = 0.1) -> None:  # fmt: skip
        super().__init__()
        if k <= 0 or alpha <= 0:
            raise ValueError(f"k and alpha must be positive (they smooth zero counts), got k={k}, alpha={alpha}")
        self.vocab_size, self.num_languages, self.k, self.alpha = vocab_size, num_languages, k, alpha
        self.register_buffer("counts", torch.zeros(num_languages, vocab_size, vocab_size, dtype=torch.float64))
        self.register_buffer("log_probs", torch.full((num_languages, vocab_size, vocab_size), -math.log(vocab_size)))

    def fit(self, loader: Iterable) -> BigramModel:
        """Count the (language, input, target) triples of every batch, then compute the probabilities."""
        self.counts.zero_()
        for languages, inputs, targets in loader:
            keep = targets != IGNORE_INDEX
            language_ids = _language_one_hot(languages, self.num_languages, len(inputs)).argmax(-1)
            rows = language_ids[:, None].expand_as(inputs)[keep]
            index = (rows * self.vocab_size + inputs[keep]) * self.vocab_size + targets[keep]
            self.counts.view(-1).index_add_(0, index, torch.ones(len(index), dtype=torch.float64))
        pooled = self.counts.sum(0)
        p_all = (pooled + self.alpha) / (pooled.sum(-1, keepdim=True) + self.alpha * self.vocab_size)
        p = (self.counts + self.k * p_all) / (self.counts.sum(-1, keepdim=True) + self.k)
        self.log_probs.copy_(p.log().float())
        return self

    def forward(self, languages: torch.Tensor, inputs: torch.Tensor, hidden: None = None) -> tuple[torch.Tensor, None]:
        _check_inputs(inputs, self.vocab_size)
        language_ids = _language_one_hot(languages, self.num_languages, len(inputs)).argmax(-1)
        return self.log_probs[language_ids.to(inputs.device)[:, None], inputs], None


class SurnameGPT(nn.Module):
    """Notebook 05's ``GPTModel`` as a surname model: the start marker is replaced by a language token.

    The vocabulary is the alphabet followed by one token per language. Input
    position 0 must hold the start marker (id ``start_id``); it becomes the
    language's token, so the GPT sees the language as its first token and makes
    the same predictions as the RNN, from the same targets. No hidden state:
    generation re-reads the whole prefix (``context_length`` bounds it).
    """

    def __init__(self, vocab_size: int, num_languages: int = len(LANGUAGES), *, emb_dim: int = 64,
                 num_heads: int = 4, num_layers: int = 2, context_length: int = 32, dropout: float = 0.0,
                 start_id: int = 0) -> None:  # fmt: skip
        super().__init__()
        from course_lib.gpt import GPTConfig, GPTModel

        self.vocab_size, self.num_languages, self.start_id = vocab_size, num_languages, start_id
        self.cfg = GPTConfig(
            vocab_size=vocab_size + num_languages,
            context_length=context_length,
            emb_dim=emb_dim,
            num_heads=num_heads,
            num_layers=num_layers,
            dropout=dropout,
        )
        self.gpt = GPTModel(self.cfg)

    @property
    def embedding(self) -> nn.Embedding:
        """The token embedding (what :func:`gradient_reach` differentiates against)."""
        return self.gpt.tok_emb

    def forward(self, languages: torch.Tensor, inputs: torch.Tensor, hidden: None = None) -> tuple[torch.Tensor, None]:
        _check_inputs(inputs, self.vocab_size)
        if hidden is not None:
            raise ValueError("SurnameGPT has no hidden state: pass the whole prefix and hidden=None")
        if inputs.shape[1] == 0 or bool((inputs[:, 0] != self.start_id).any()):
            raise ValueError(f"every row of inputs must begin with the start marker (id {self.start_id})")
        language_ids = _language_one_hot(languages, self.num_languages, len(inputs)).argmax(-1)
        tokens = inputs.clone()
        tokens[:, 0] = self.vocab_size + language_ids.to(inputs.device)
        return self.gpt(tokens)[..., : self.vocab_size], None


# --------------------------------------------------------------------------- training and evaluation


def _to(batch: Iterable[torch.Tensor], device: torch.device | str) -> list[torch.Tensor]:
    return [t.to(device) for t in batch]


def lm_loss(model: nn.Module, batch: Iterable[torch.Tensor], device: torch.device | str = "cpu") -> torch.Tensor:
    """Teacher forcing: mean cross-entropy (nats per character) of the true next characters.

    ``batch`` is ``(languages, inputs, targets)`` from :func:`course_lib.surnames.make_loader`;
    padded positions (``IGNORE_INDEX``) do not count.
    """
    languages, inputs, targets = _to(batch, device)
    logits, _ = model(languages, inputs)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


def _pick(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Next ids from logits ``[B, V]``: argmax at temperature 0, else a sample of softmax(logits / temperature)."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    device = generator.device if generator is not None else probs.device
    return torch.multinomial(probs.to(device), 1, generator=generator).squeeze(-1).to(logits.device)


def free_running_loss(
    model: nn.Module,
    batch: Iterable[torch.Tensor],
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Like :func:`lm_loss`, but after the start marker the model reads its *own* sampled characters.

    The targets stay the true characters. With teacher forcing a model never
    sees its own mistakes in training; this loss measures what happens when it
    has to (exposure bias). Needs a recurrent model (one that returns a hidden
    state); samples at temperature 1 with ``generator``.
    """
    languages, inputs, targets = _to(batch, device)
    x, hidden = inputs[:, :1], None
    total, count = inputs.new_zeros((), dtype=torch.float32), 0
    for t in range(inputs.shape[1]):
        logits, hidden = model(languages, x, hidden)
        if hidden is None:
            raise ValueError("free_running_loss needs a recurrent model that returns its hidden state")
        keep = targets[:, t] != IGNORE_INDEX
        total = total + F.cross_entropy(logits[:, -1], targets[:, t], ignore_index=IGNORE_INDEX, reduction="sum")
        count += int(keep.sum())
        x = _pick(logits[:, -1].detach(), 1.0, generator)[:, None]
    return total / max(count, 1)


@torch.no_grad()
def surprisal_by_language(
    model: nn.Module, loader: Iterable, num_languages: int = len(LANGUAGES), device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Total surprisal (nats) and number of predicted characters per language, in eval mode.

    Every target counts, the end marker included (predicting where a name stops
    is part of the task). ``nats / chars`` is the loss per character;
    ``exp`` of it is the perplexity per character.
    """
    from course_lib.metrics import surprisal

    was_training = model.training
    model.eval()
    nats = torch.zeros(num_languages, dtype=torch.float64)
    chars = torch.zeros(num_languages, dtype=torch.long)
    try:
        for languages, inputs, targets in loader:
            languages, inputs, targets = _to((languages, inputs, targets), device)
            logits, _ = model(languages, inputs)
            keep = targets != IGNORE_INDEX
            per_char = surprisal(logits, torch.where(keep, targets, torch.zeros_like(targets))) * keep
            language_ids = _language_one_hot(languages, num_languages, len(inputs)).argmax(-1).cpu()
            nats.index_add_(0, language_ids, per_char.sum(1).double().cpu())
            chars.index_add_(0, language_ids, keep.sum(1).cpu())
    finally:
        model.train(was_training)
    return nats, chars


def evaluate(model: nn.Module, loader: Iterable, device: torch.device | str = "cpu") -> float:
    """Mean surprisal per character (nats) over every name of ``loader``."""
    num_languages = getattr(model, "num_languages", len(LANGUAGES))
    nats, chars = surprisal_by_language(model, loader, num_languages, device)
    return float(nats.sum() / chars.sum())


@torch.no_grad()
def evaluate_free_running(
    model: nn.Module, loader: Iterable, device: torch.device | str = "cpu", generator: torch.Generator | None = None
) -> float:
    """Mean :func:`free_running_loss` per character over every name of ``loader``, in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for batch in loader:
            chars = int((batch[2] != IGNORE_INDEX).sum())
            total += free_running_loss(model, batch, device, generator).item() * chars
            count += chars
    finally:
        model.train(was_training)
    return total / count


def train_lm(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    *,
    num_steps: int,
    lr: float,
    device: torch.device | str = "cpu",
    eval_every: int = 100,
    max_seconds: float | None = None,
    grad_clip: float = 1.0,
    free_running: bool = False,
    generator: torch.Generator | None = None,
    callback: Callable[[dict], None] | None = None,
) -> dict[str, list[float]]:
    """Train with AdamW for ``num_steps`` batches (or ``max_seconds``), evaluating every ``eval_every``.

    The loss is :func:`lm_loss` (teacher forcing), or :func:`free_running_loss`
    when ``free_running=True``. Gradients are clipped to norm ``grad_clip``.
    Returns the history: ``step``, ``train_loss`` (mean since the previous
    evaluation), ``val_loss`` (nats per character), ``seconds`` (training time,
    evaluations excluded) and ``chars_per_s``. ``callback(history)`` runs after
    each evaluation (a live plot, say).
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive integer, got {eval_every!r}")
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"step": [], "train_loss": [], "val_loss": [], "seconds": [], "chars_per_s": []}
    losses: list[float] = []
    seconds, chars = 0.0, 0
    batches = cycle(train_loader)
    for step in range(1, num_steps + 1):
        model.train()
        start = time.perf_counter()
        batch = next(batches)
        if free_running:
            loss = free_running_loss(model, batch, device, generator)
        else:
            loss = lm_loss(model, batch, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        losses.append(loss.item())
        seconds += time.perf_counter() - start
        chars += int((batch[2] != IGNORE_INDEX).sum())
        out_of_time = max_seconds is not None and seconds >= max_seconds
        if step % eval_every == 0 or step == num_steps or out_of_time:
            history["step"].append(step)
            history["train_loss"].append(sum(losses) / len(losses))
            history["val_loss"].append(evaluate(model, val_loader, device))
            history["seconds"].append(seconds)
            history["chars_per_s"].append(chars / seconds)
            losses = []
            if callback is not None:
                callback(history)
        if out_of_time:
            break
    return history


# --------------------------------------------------------------------------- sampling


@torch.no_grad()
def sample_names(
    model: nn.Module,
    alphabet: Alphabet,
    language: int | str,
    num_samples: int = 1,
    *,
    temperature: float = 1.0,
    prefix: str = "",
    max_length: int = 20,
    generator: torch.Generator | None = None,
    languages: tuple[str, ...] = LANGUAGES,
) -> list[str]:
    """Free-running generation: ``num_samples`` names in ``language``, one character at a time.

    Each name starts with the start marker and ``prefix``; then the model's
    next-character distribution at ``temperature`` is sampled (with
    ``generator``, for reproducible names) and the character is fed back in,
    until the end marker or ``max_length`` characters. ``temperature=0`` takes
    the most likely character (greedy); below 1 sharpens the distribution
    (safer, more repetitive names), above 1 flattens it (more adventurous ones).
    """
    if isinstance(language, str):
        if language not in languages:
            raise ValueError(f"unknown language {language!r}: choose from {', '.join(languages)}")
        language = languages.index(language)
    if not isinstance(language, int) or not 0 <= language < len(languages):
        raise ValueError(f"language must be a name or an id in [0, {len(languages)}), got {language!r}")
    if not isinstance(temperature, (int, float)) or temperature < 0 or math.isnan(temperature):
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    if len(prefix) >= max_length:
        raise ValueError(f"prefix {prefix!r} already has max_length={max_length} characters or more")
    context = getattr(getattr(model, "cfg", None), "context_length", None)
    if context is not None and max_length + 1 > context:
        raise ValueError(f"max_length={max_length} needs a context of {max_length + 1}, the model has {context}")
    device = next(model.parameters(), torch.empty(0)).device
    if isinstance(model, BigramModel):
        device = model.log_probs.device
    was_training = model.training
    model.eval()
    try:
        ids = torch.tensor([[alphabet.start_id, *alphabet.encode(prefix)]] * num_samples, device=device)
        langs = torch.full((num_samples,), language, dtype=torch.long, device=device)
        logits, hidden = model(langs, ids)
        done = torch.zeros(num_samples, dtype=torch.bool, device=device)
        for _ in range(max_length - len(prefix)):
            next_id = _pick(logits[:, -1], temperature, generator)
            next_id = torch.where(done, torch.full_like(next_id, alphabet.end_id), next_id)
            done |= next_id == alphabet.end_id
            ids = torch.cat([ids, next_id[:, None]], dim=1)
            if bool(done.all()):
                break
            if hidden is not None:
                logits, hidden = model(langs, next_id[:, None], hidden)
            else:
                logits, _ = model(langs, ids)
    finally:
        model.train(was_training)
    return [alphabet.decode(row[1:]).split(">")[0] for row in ids.tolist()]


# --------------------------------------------------------------------------- why attention


def gradient_reach(
    model: nn.Module, languages: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """How strongly the last prediction depends on each input: ``||d loss_last / d embedding_t||``.

    ``loss_last`` is the mean surprisal of the last column of ``targets``;
    the gradient is taken with respect to the embedding vectors the model
    reads at each position ``t`` (the output of ``model.embedding``). Returns a
    ``[T]`` tensor, the per-name gradient norms averaged over the batch. In an
    RNN every path from input ``t`` to the end passes through ``T - 1 - t``
    recurrent steps, so the norm tends to shrink with distance; in a
    transformer, attention links every position to the last one directly.
    """
    captured: dict[str, torch.Tensor] = {}

    def keep(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        output.retain_grad()
        captured["embedded"] = output

    was_training = model.training
    model.eval()
    handle = model.embedding.register_forward_hook(keep)
    try:
        with torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN backward refuses eval mode
            logits, _ = model(languages, inputs)
            F.cross_entropy(logits[:, -1], targets[:, -1]).backward()
    finally:
        handle.remove()
        model.train(was_training)
    model.zero_grad(set_to_none=True)
    return captured["embedded"].grad.norm(dim=-1).mean(0).detach().cpu()
