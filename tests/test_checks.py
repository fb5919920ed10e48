"""The exercise checks: they accept every right answer, catch the usual wrong ones, and teach without leaking.

For every check of notebooks 01-05 this feeds

- a right answer, which must pass with one printed line;
- right variants (float64 or float32, numpy, in place, non-contiguous, another
  algorithm), which must pass too: a check compares numbers, not code;
- known wrong answers (the mistakes learners make), which must fail with a short
  :class:`checks.CheckFailed` whose rendered traceback (what Jupyter shows, through
  ``_render_traceback_``) holds neither the check's source lines nor the answer;
- the untouched stub, which must say in one line that the exercise is not done yet.
"""

from __future__ import annotations

import inspect
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import pytest
import regex
import torch
import torch.nn.functional as F

from course_lib import checks
from course_lib.bpe import count_pairs as lib_count_pairs
from course_lib.bpe import merge_pair, pretokenize
from course_lib.checks import attention as ch_attention
from course_lib.checks import autograd as ch_autograd
from course_lib.checks import gpt as ch_gpt
from course_lib.checks import mlp as ch_mlp
from course_lib.checks import tokenizer as ch_tokenizer


@pytest.fixture(autouse=True)
def _fresh_hints():
    """Each test starts as a fresh kernel: no earlier failures, so the first hint shows."""
    checks._FAILURES.clear()
    yield
    checks._FAILURES.clear()


@dataclass
class Case:
    """One check with its right answer, right variants and wrong answers."""

    module: ModuleType
    check: Callable[..., None]
    right: tuple
    exercise: int | str  # as the notebook names it: 2 is "Exercise 2"; "Experiment 1" is itself
    variants: dict[str, tuple] = field(default_factory=dict)
    wrong: dict[str, tuple] = field(default_factory=dict)  # name -> (args, text the message must contain)
    secrets: tuple[str, ...] = ()  # what the first failure must never show (the answer)


# ----------------------------------------------------------------------------- notebook 01


def neuron_grads(w, x, b, y):
    a = torch.sigmoid(w @ x + b)
    return (a - y) * x, a - y


def neuron_float32(w, x, b, y):
    dw, db = neuron_grads(w.float(), x.float(), b.float(), y)
    return dw, db


def neuron_numpy(w, x, b, y):
    dw, db = neuron_grads(w, x, b, y)
    return dw.numpy(), float(db)


def neuron_in_place(w, x, b, y):
    z = w.mul_(x).sum() + b  # overwrites w: the check must not care
    a = torch.sigmoid(z)
    return x.mul_(a - y), a - y


def neuron_non_contiguous(w, x, b, y):
    dw, db = neuron_grads(w, x, b, y)
    return torch.stack([dw, dw], dim=1)[:, 0], db


def neuron_sign(w, x, b, y):
    dw, db = neuron_grads(w, x, b, y)
    return -dw, -db


def neuron_sigma_twice(w, x, b, y):
    a = torch.sigmoid(w @ x + b)
    return (a - y) * a * (1 - a) * x, (a - y) * a * (1 - a)


def neuron_label_one(w, x, b, y):
    a = torch.sigmoid(w @ x + b)
    return (a - 1) * x, a - 1


def sgd_update(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, maximize=False):  # fmt: skip
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    buf = None
    if momentum != 0:
        buf = g.clone() if momentum_buffer is None else momentum * momentum_buffer + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return param - lr * g, buf


def sgd_float32(param, grad, momentum_buffer, **settings):
    buf = None if momentum_buffer is None else momentum_buffer.float()
    return sgd_update(param.float(), grad.float(), buf, **settings)


def sgd_numpy(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, maximize=False):  # fmt: skip
    p, g = param.numpy(), grad.numpy()
    g = -g if maximize else g
    g = g + weight_decay * p
    buf = None
    if momentum != 0:
        buf = np.copy(g) if momentum_buffer is None else momentum * momentum_buffer.numpy() + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def sgd_in_place(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):  # fmt: skip
    g = grad.neg_() if maximize else grad
    g.add_(param, alpha=weight_decay)
    buf = None
    if momentum != 0:
        if momentum_buffer is None:
            buf = g.clone()
        else:
            buf = momentum_buffer.mul_(momentum).add_(g, alpha=1 - dampening)
        g = g.add_(buf, alpha=momentum) if nesterov else buf
    return param.sub_(g, alpha=lr), buf


def sgd_non_contiguous(param, grad, momentum_buffer, **settings):
    new, buf = sgd_update(param, grad, momentum_buffer, **settings)
    return torch.stack([new, new], dim=1)[:, 0], buf


def sgd_uphill(param, grad, momentum_buffer, **settings):
    new, buf = sgd_update(param, grad, momentum_buffer, **settings)
    return 2 * param - new, buf


def sgd_dampening_first(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                        nesterov=False, maximize=False):  # fmt: skip
    g = -grad if maximize else grad
    g = g + weight_decay * param
    buf = None
    if momentum != 0:
        previous = torch.zeros_like(g) if momentum_buffer is None else momentum_buffer
        buf = momentum * previous + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return param - lr * g, buf


def sgd_decay_after_momentum(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                             nesterov=False, maximize=False):  # fmt: skip
    g = -grad if maximize else grad
    buf = None
    if momentum != 0:
        buf = g.clone() if momentum_buffer is None else momentum * momentum_buffer + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return param - lr * (g + weight_decay * param), buf


def two_layer(X, y, W1, b1, W2, b2):
    H = torch.tanh(X @ W1 + b1)
    dY = 2 * (H @ W2 + b2 - y) / y.numel()
    dZ = (dY @ W2.T) * (1 - H**2)
    return {"W1": X.T @ dZ, "b1": dZ.sum(0), "W2": H.T @ dY, "b2": dY.sum(0)}


def two_layer_float32(X, y, W1, b1, W2, b2):
    return two_layer(*(t.float() for t in (X, y, W1, b1, W2, b2)))


def two_layer_numpy(X, y, W1, b1, W2, b2):
    return {k: v.numpy() for k, v in two_layer(X, y, W1, b1, W2, b2).items()}


def two_layer_transposed_storage(X, y, W1, b1, W2, b2):
    grads = two_layer(X, y, W1, b1, W2, b2)
    return {k: (v.T.contiguous().T if v.dim() == 2 else v) for k, v in grads.items()}


def two_layer_sum_not_mean(X, y, W1, b1, W2, b2):
    return {k: v * y.numel() for k, v in two_layer(X, y, W1, b1, W2, b2).items()}


def two_layer_no_tanh_derivative(X, y, W1, b1, W2, b2):
    H = torch.tanh(X @ W1 + b1)
    dY = 2 * (H @ W2 + b2 - y) / y.numel()
    dZ = dY @ W2.T
    return {"W1": X.T @ dZ, "b1": dZ.sum(0), "W2": H.T @ dY, "b2": dY.sum(0)}


def two_layer_sign(X, y, W1, b1, W2, b2):
    return {k: -v for k, v in two_layer(X, y, W1, b1, W2, b2).items()}


# ----------------------------------------------------------------------------- notebook 02


def fit_cubic(T, cp):
    coef, *_ = np.linalg.lstsq(np.vander(T, 4, increasing=True), cp, rcond=None)
    return coef


def fit_cubic_polyfit(T, cp):
    return np.polyfit(T, cp, 3)[::-1]  # a negatively strided view


def fit_cubic_torch(T, cp):
    return torch.tensor(fit_cubic(T, cp))


def fit_cubic_highest_first(T, cp):
    return np.polyfit(T, cp, 3)


def fit_quadratic(T, cp):
    return np.append(np.polyfit(T, cp, 2)[::-1], 0.0)


def mlp_forward(params, X):
    z1 = X @ params["W1"] + params["b1"]
    h = np.tanh(z1)
    return h @ params["W2"] + params["b2"], {"X": X, "z1": z1, "h": h}


def mlp_forward_float32(params, X):
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    return mlp_forward(p32, X.astype(np.float32))


def mlp_forward_in_place(params, X):
    h = X @ params["W1"]
    h += params["b1"]
    np.tanh(h, out=h)
    return h @ params["W2"] + params["b2"], {"X": X, "z1": None, "h": h}


def mlp_forward_torch(params, X):
    y_hat, cache = mlp_forward(params, X)
    return torch.from_numpy(y_hat), {"h": torch.from_numpy(cache["h"]).T.contiguous().T}


def mlp_forward_no_b1(params, X):
    h = np.tanh(X @ params["W1"])
    return h @ params["W2"] + params["b2"], {"X": X, "h": h}


def mlp_forward_tanh_out(params, X):
    h = np.tanh(X @ params["W1"] + params["b1"])
    return np.tanh(h @ params["W2"] + params["b2"]), {"X": X, "h": h}


def mlp_backward(params, cache, y_hat, y):
    X, h = cache["X"], cache["h"]
    delta = 2.0 * (y_hat - y) / y.size
    d_z1 = (delta @ params["W2"].T) * (1.0 - h**2)
    return {"W1": X.T @ d_z1, "b1": d_z1.sum(axis=0), "W2": h.T @ delta, "b2": delta.sum(axis=0)}


def mlp_backward_float32(params, cache, y_hat, y):
    return {k: v.astype(np.float32) for k, v in mlp_backward(params, cache, y_hat, y).items()}


def mlp_backward_in_place(params, cache, y_hat, y):
    y_hat -= y
    y_hat *= 2.0 / y.size
    d_h = y_hat @ params["W2"].T
    h = cache["h"]
    np.multiply(h, h, out=h)  # h**2, written over the cache
    np.subtract(1.0, h, out=h)
    d_z1 = d_h * h
    h_again = np.sqrt(1.0 - h) * np.sign(np.tanh(cache["X"] @ params["W1"] + params["b1"]))
    return {
        "W1": cache["X"].T @ d_z1,
        "b1": d_z1.sum(axis=0),
        "W2": h_again.T @ y_hat,
        "b2": y_hat.sum(axis=0),
    }


def mlp_backward_half(params, cache, y_hat, y):
    return {k: v / 2 for k, v in mlp_backward(params, cache, y_hat, y).items()}


def mlp_backward_no_tanh(params, cache, y_hat, y):
    X, h = cache["X"], cache["h"]
    delta = 2.0 * (y_hat - y) / y.size
    d_z1 = delta @ params["W2"].T
    return {"W1": X.T @ d_z1, "b1": d_z1.sum(axis=0), "W2": h.T @ delta, "b2": delta.sum(axis=0)}


def gd_step(params, grads, lr):
    return {name: params[name] - lr * grads[name] for name in params}


def gd_step_in_place(params, grads, lr):
    for name in params:
        params[name] -= lr * grads[name]
    return params


def gd_step_torch(params, grads, lr):
    return {k: torch.from_numpy(v) for k, v in gd_step(params, grads, lr).items()}


def gd_step_uphill(params, grads, lr):
    return {name: params[name] + lr * grads[name] for name in params}


def gd_step_no_lr(params, grads, lr):
    return {name: params[name] - grads[name] for name in params}


STEPS = {"forward": "y_hat = model(X)", "loss": "loss = loss_fn(y_hat, y)", "backprop": "loss.backward()",
         "update": "optimizer.step()"}  # fmt: skip


def locate_steps():
    return dict(STEPS)


def locate_steps_spaced():
    return {k: f"  {v} " for k, v in STEPS.items()}


def locate_steps_zero_grad():
    return {**STEPS, "update": "optimizer.zero_grad()"}


def locate_steps_made_up():
    return {**STEPS, "forward": "model.forward(X)"}


# ----------------------------------------------------------------------------- notebook 03

WORDS = r"\w+|--|[^\w\s]"


def split_words(text):
    return regex.findall(WORDS, text)


def split_words_re(text):
    return tuple(re.findall(WORDS, text))


def split_words_dash_split(text):
    return regex.findall(r"\w+|[^\w\s]", text)


def split_words_whitespace(text):
    return text.split()


def count_pairs(ids):
    counts = {}
    for pair in zip(ids[:-1], ids[1:], strict=True):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def count_pairs_counter(ids):
    return Counter(zip(ids[:-1], ids[1:], strict=True))


def count_pairs_non_overlapping(ids):
    counts, i = {}, 0
    while i < len(ids) - 1:
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
        i += 2 if pair[0] == pair[1] else 1
    return counts


def count_pairs_lists(ids):
    return {str([a, b]): n for (a, b), n in count_pairs(ids).items()}


def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_in_place(ids, pair, new_id):
    i = 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            ids[i : i + 2] = [new_id]
        i += 1
    return ids


def merge_overlapping(ids, pair, new_id):
    out = []
    for i in range(len(ids) - 1):
        out.append(new_id if (ids[i], ids[i + 1]) == pair else ids[i])
    return out


def merge_drops_last(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_naive(text, vocab_size):
    chunks = [list(piece.encode("utf-8")) for piece in pretokenize(text)]
    merges = []
    for new_id in range(256, vocab_size):
        counts = {}
        for chunk in chunks:
            lib_count_pairs(chunk, counts)
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        chunks = [merge_pair(chunk, best, new_id) for chunk in chunks]
    return merges


def train_naive_lists(text, vocab_size):
    return [list(p) for p in train_naive(text, vocab_size)]


def train_naive_across_pieces(text, vocab_size):
    ids = list(text.encode("utf-8"))
    merges = []
    for new_id in range(256, vocab_size):
        counts = lib_count_pairs(ids)
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        ids = merge_pair(ids, best, new_id)
    return merges


def train_naive_ties_by_max(text, vocab_size):
    chunks = [list(piece.encode("utf-8")) for piece in pretokenize(text)]
    merges = []
    for new_id in range(256, vocab_size):
        counts = {}
        for chunk in chunks:
            lib_count_pairs(chunk, counts)
        best = max(counts, key=lambda p: (counts[p], p))
        merges.append(best)
        chunks = [merge_pair(chunk, best, new_id) for chunk in chunks]
    return merges


def sliding_windows(ids, max_length, stride):
    return [(ids[s : s + max_length], ids[s + 1 : s + max_length + 1]) for s in range(0, len(ids) - max_length, stride)]


def sliding_windows_tensors(ids, max_length, stride):
    t = torch.tensor(ids)
    return [(t[s : s + max_length], t[s + 1 : s + max_length + 1]) for s in range(0, len(t) - max_length, stride)]


def sliding_windows_one_too_many(ids, max_length, stride):
    starts = range(0, len(ids) - max_length + 1, stride)
    return [(ids[s : s + max_length], ids[s + 1 : s + max_length + 1]) for s in starts]


def sliding_windows_unshifted(ids, max_length, stride):
    return [(ids[s : s + max_length], ids[s : s + max_length]) for s in range(0, len(ids) - max_length, stride)]


def one_hot_embedding(ids, weight):
    return F.one_hot(ids, num_classes=weight.shape[0]).to(weight.dtype) @ weight


def one_hot_float64(ids, weight):
    return F.one_hot(ids, num_classes=weight.shape[0]).double() @ weight.double()


def one_hot_non_contiguous(ids, weight):
    return one_hot_embedding(ids, weight).transpose(0, 1).contiguous().transpose(0, 1)


def one_hot_no_num_classes(ids, weight):
    return F.one_hot(ids).float() @ weight


def one_hot_wrong_rows(ids, weight):
    return weight[ids.flip(-1)]


# ----------------------------------------------------------------------------- notebook 04


def softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def softmax_float64(x):
    return softmax(x.double())


def softmax_in_place(x):
    x.sub_(x.max(dim=-1, keepdim=True).values).exp_()
    return x.div_(x.sum(dim=-1, keepdim=True))


def softmax_numpy(x):
    a = x.numpy().astype(np.float64)
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_no_max(x):
    e = torch.exp(x)
    return e / e.sum(dim=-1, keepdim=True)


def softmax_dim1(x):
    e = torch.exp(x - x.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def softmax_dim0(x):
    e = torch.exp(x - x.max(dim=0, keepdim=True).values)
    return e / e.sum(dim=0, keepdim=True)


def causal_mask(context_length):
    return torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)


def causal_mask_compare(context_length):
    i = torch.arange(context_length)
    return i[None, :] > i[:, None]


def causal_mask_transposed_storage(context_length):
    return torch.tril(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=-1).T


def causal_mask_diagonal(context_length):
    return torch.triu(torch.ones(context_length, context_length, dtype=torch.bool))


def causal_mask_past(context_length):
    return torch.tril(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=-1)


def causal_mask_float(context_length):
    return torch.triu(torch.ones(context_length, context_length), diagonal=1)


def split_heads(x, num_heads):
    B, T, d_out = x.shape
    return x.view(B, T, num_heads, d_out // num_heads).transpose(1, 2)


def merge_heads(x):
    B, num_heads, T, head_dim = x.shape
    return x.transpose(1, 2).reshape(B, T, num_heads * head_dim)


def split_heads_permute64(x, num_heads):
    B, T, d_out = x.shape
    return x.double().reshape(B, T, num_heads, -1).permute(0, 2, 1, 3).contiguous()


def merge_heads_contiguous_view(x):
    B, num_heads, T, head_dim = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, num_heads * head_dim)


def split_heads_direct_view(x, num_heads):
    B, T, d_out = x.shape
    return x.view(B, num_heads, T, d_out // num_heads)


def merge_heads_view(x):
    B, num_heads, T, head_dim = x.shape
    return x.transpose(1, 2).view(B, T, num_heads * head_dim)


def merge_heads_direct_reshape(x):
    B, num_heads, T, head_dim = x.shape
    return x.reshape(B, T, num_heads * head_dim)


# ----------------------------------------------------------------------------- notebook 05


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def layer_norm_float64(x, weight, bias, eps=1e-5):
    return layer_norm(x.double(), weight.double(), bias.double(), eps)


def layer_norm_in_place(x, weight, bias, eps=1e-5):
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    x.sub_(x.mean(dim=-1, keepdim=True)).div_(var.add_(eps).sqrt_())
    return x.mul_(weight).add_(bias)


def layer_norm_functional(x, weight, bias, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)


def layer_norm_unbiased(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True) + eps) * weight + bias


def layer_norm_eps_outside(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    return (x - mean) / (x.var(dim=-1, keepdim=True, unbiased=False).sqrt() + eps) * weight + bias


def layer_norm_no_affine(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + eps)


def layer_norm_fixed_eps(x, weight, bias, eps=1e-5):
    return layer_norm(x, weight, bias, 1e-5)


def gelu(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_float64(x):
    return gelu(x.double())


def gelu_in_place(x):
    inner = x.pow(3).mul_(0.044715).add_(x).mul_(math.sqrt(2 / math.pi)).tanh_().add_(1)
    return x.mul_(inner).mul_(0.5)


def gelu_exact(x):
    return F.gelu(x)


def gelu_relu(x):
    return torch.relu(x)


def gelu_no_cube(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x))


def block_forward(block, x):
    x = x + block.drop_resid(block.att(block.norm1(x)))
    return x + block.drop_resid(block.ff(block.norm2(x)))


def block_forward_in_place(block, x):
    x += block.att(block.norm1(x))
    x += block.ff(block.norm2(x))
    return x


def block_forward_post_norm(block, x):
    h = block.norm1(x + block.att(x))
    return block.norm2(h + block.ff(h))


def block_forward_no_shortcut(block, x):
    return block.ff(block.norm2(block.att(block.norm1(x))))


def block_forward_parallel(block, x):
    return x + block.att(block.norm1(x)) + block.ff(block.norm2(x))


def count_parameters(cfg, tied_head=False):
    d = cfg.emb_dim
    attention = 3 * d * d + (3 * d if cfg.qkv_bias else 0) + d * d + d
    feed_forward = 8 * d * d + 5 * d
    head = 0 if tied_head else d * cfg.vocab_size
    embeddings = (cfg.vocab_size + cfg.context_length) * d
    return embeddings + cfg.num_layers * (attention + feed_forward + 4 * d) + 2 * d + head


def count_parameters_numpy(cfg, tied_head=False):
    return np.int64(count_parameters(cfg, tied_head))


def count_parameters_float(cfg, tied_head=False):
    return float(count_parameters(cfg, tied_head))


def count_parameters_no_final_norm(cfg, tied_head=False):
    return count_parameters(cfg, tied_head) - 2 * cfg.emb_dim


def count_parameters_always_qkv_bias(cfg, tied_head=False):
    extra = 0 if cfg.qkv_bias else 3 * cfg.emb_dim * cfg.num_layers
    return count_parameters(cfg, tied_head) + extra


def count_parameters_untied(cfg, tied_head=False):
    return count_parameters(cfg, False)


# ----------------------------------------------------------------------------- the table

CASES = {
    "neuron_grads": Case(
        ch_autograd,
        ch_autograd.check_neuron_grads,
        (neuron_grads,),
        1,
        variants={
            "float32": (neuron_float32,),
            "numpy": (neuron_numpy,),
            "in-place": (neuron_in_place,),
            "non-contiguous": (neuron_non_contiguous,),
        },
        wrong={
            "sign": ((neuron_sign,), "wrong sign"),
            "sigma twice": ((neuron_sigma_twice,), "a(1 - a)"),
            "label as 1": ((neuron_label_one,), "y = 0"),
        },
        secrets=("a - y",),
    ),
    "sgd_update": Case(
        ch_autograd,
        ch_autograd.check_sgd_update,
        (sgd_update,),
        3,
        variants={
            "float32": (sgd_float32,),
            "numpy": (sgd_numpy,),
            "in-place": (sgd_in_place,),
            "non-contiguous": (sgd_non_contiguous,),
        },
        wrong={
            "uphill": ((sgd_uphill,), "param - lr * g"),
            "dampening on step 1": ((sgd_dampening_first,), "first step"),
            "decay after momentum": ((sgd_decay_after_momentum,), "BEFORE the momentum"),
        },
    ),
    "two_layer_backward": Case(
        ch_autograd,
        ch_autograd.check_two_layer_backward,
        (two_layer,),
        2,
        variants={
            "float32": (two_layer_float32,),
            "numpy": (two_layer_numpy,),
            "non-contiguous": (two_layer_transposed_storage,),
        },
        wrong={
            "sum instead of mean": ((two_layer_sum_not_mean,), "off by a factor 10"),
            "no tanh derivative": ((two_layer_no_tanh_derivative,), "gradient of W1"),
            "sign": ((two_layer_sign,), "sign of (y_hat - y)"),
        },
        secrets=("1 - H**2", "H.T @ dY"),
    ),
    "fit_cubic": Case(
        ch_mlp,
        ch_mlp.check_fit_cubic,
        (fit_cubic,),
        1,
        variants={"polyfit reversed (negative strides)": (fit_cubic_polyfit,), "torch": (fit_cubic_torch,)},
        wrong={
            "highest power first": ((fit_cubic_highest_first,), "wrong order"),
            "quadratic": ((fit_quadratic,), "values differ"),
        },
        secrets=("lstsq", "vander(T, 4, increasing=True)"),
    ),
    "forward": Case(
        ch_mlp,
        ch_mlp.check_forward,
        (mlp_forward,),
        2,
        variants={
            "float32": (mlp_forward_float32,),
            "in-place": (mlp_forward_in_place,),
            "torch, non-contiguous": (mlp_forward_torch,),
        },
        wrong={
            "no b1": ((mlp_forward_no_b1,), "cache['h']"),
            "tanh on the output": ((mlp_forward_tanh_out,), "y_hat"),
        },
        secrets=("np.tanh(X @ W1 + b1)", "h @ W2 + b2"),
    ),
    "backward": Case(
        ch_mlp,
        ch_mlp.check_backward,
        (mlp_backward,),
        3,
        variants={"float32": (mlp_backward_float32,), "in-place": (mlp_backward_in_place,)},
        wrong={
            "half": ((mlp_backward_half,), "half the true value"),
            "no tanh derivative": ((mlp_backward_no_tanh,), "W1"),
        },
        secrets=("1 - h**2", "h.T @ d_yhat"),
    ),
    "gd_step": Case(
        ch_mlp,
        ch_mlp.check_gd_step,
        (gd_step,),
        4,
        variants={"in-place": (gd_step_in_place,), "torch": (gd_step_torch,)},
        wrong={"uphill": ((gd_step_uphill,), "uphill"), "no lr": ((gd_step_no_lr,), "values differ")},
        secrets=("old - lr * gradient",),
    ),
    "locate_steps": Case(
        ch_mlp,
        ch_mlp.check_locate_steps,
        (locate_steps,),
        "Experiment 1",
        variants={"spaces around": (locate_steps_spaced,)},
        wrong={
            "zero_grad as the update": ((locate_steps_zero_grad,), "'update'"),
            "made-up line": ((locate_steps_made_up,), "not a line of train_torch"),
        },
        secrets=("optimizer.step()", "loss.backward()"),
    ),
    "split_words": Case(
        ch_tokenizer,
        ch_tokenizer.check_split_words,
        (split_words,),
        1,
        variants={"re module, a tuple": (split_words_re,)},
        wrong={"dash split": ((split_words_dash_split,), "differs"), "str.split": ((split_words_whitespace,), "")},
        secrets=(WORDS, r"[^\w\s]", r"\w+"),
    ),
    "count_pairs": Case(
        ch_tokenizer,
        ch_tokenizer.check_count_pairs,
        (count_pairs,),
        2,
        variants={"Counter": (count_pairs_counter,)},
        wrong={
            "non-overlapping": ((count_pairs_non_overlapping,), "overlapping"),
            "keys are strings": ((count_pairs_lists,), "differs"),
        },
        secrets=("ids[i + 1]",),
    ),
    "merge": Case(
        ch_tokenizer,
        ch_tokenizer.check_merge,
        (merge,),
        3,
        variants={"in-place": (merge_in_place,)},
        wrong={"overlapping": ((merge_overlapping,), "differs"), "drops the last id": ((merge_drops_last,), "")},
        secrets=("skip two positions",),
    ),
    "train_naive": Case(
        ch_tokenizer,
        ch_tokenizer.check_train_naive,
        (train_naive,),
        4,
        variants={"lists instead of tuples": (train_naive_lists,)},
        wrong={
            "across pieces": ((train_naive_across_pieces,), "differs"),
            "ties by the largest": ((train_naive_ties_by_max,), "differs"),
        },
        secrets=("min(counts", "key=lambda"),
    ),
    "sliding_windows": Case(
        ch_tokenizer,
        ch_tokenizer.check_sliding_windows,
        (sliding_windows,),
        5,
        variants={"tensors": (sliding_windows_tensors,)},
        wrong={
            "one window too many": ((sliding_windows_one_too_many,), "number of windows"),
            "target not shifted": ((sliding_windows_unshifted,), "window 0"),
        },
        secrets=("ids[s + 1 : s + max_length + 1]", "s + max_length + 1 <= len(ids)"),
    ),
    "one_hot_embedding": Case(
        ch_tokenizer,
        ch_tokenizer.check_one_hot_embedding,
        (one_hot_embedding,),
        6,
        variants={"float64": (one_hot_float64,), "non-contiguous": (one_hot_non_contiguous,)},
        wrong={
            "one_hot without num_classes": ((one_hot_no_num_classes,), "Exercise 6 (one_hot_no_num_classes) raised"),
            "wrong rows": ((one_hot_wrong_rows,), "values differ"),
        },
        secrets=("num_classes=weight.shape[0]",),
    ),
    "softmax": Case(
        ch_attention,
        ch_attention.check_softmax,
        (softmax,),
        1,
        variants={"float64": (softmax_float64,), "in-place": (softmax_in_place,), "numpy": (softmax_numpy,)},
        wrong={
            "no max subtracted": ((softmax_no_max,), "not finite"),
            "over dim 0": ((softmax_dim0,), "[4, 5]"),
            "over dim 1": ((softmax_dim1,), "[2, 3, 6]"),
        },
        secrets=("x.max(dim=-1", ".values"),
    ),
    "causal_mask": Case(
        ch_attention,
        ch_attention.check_causal_mask,
        (causal_mask,),
        2,
        variants={"comparison": (causal_mask_compare,), "non-contiguous": (causal_mask_transposed_storage,)},
        wrong={
            "hides the diagonal": ((causal_mask_diagonal,), "diagonal"),
            "hides the past": ((causal_mask_past,), "PAST"),
            "float mask": ((causal_mask_float,), "dtype"),
        },
        secrets=("triu(torch.ones", "j > i\n"),
    ),
    "split_merge": Case(
        ch_attention,
        ch_attention.check_split_merge,
        (split_heads, merge_heads),
        3,
        variants={
            "permute, float64": (split_heads_permute64, merge_heads),
            "contiguous().view": (split_heads, merge_heads_contiguous_view),
        },
        wrong={
            "direct view": ((split_heads_direct_view, merge_heads), "split_heads"),
            "view after transpose": ((split_heads, merge_heads_view), "not contiguous"),
            "reshape without transpose": ((split_heads, merge_heads_direct_reshape), "give x back"),
        },
        secrets=("transpose(1, 2)", ".reshape(B, T, d_out)"),
    ),
    "layer_norm": Case(
        ch_gpt,
        ch_gpt.check_layer_norm,
        (layer_norm,),
        1,
        variants={
            "float64": (layer_norm_float64,),
            "in-place": (layer_norm_in_place,),
            "F.layer_norm": (layer_norm_functional,),
        },
        wrong={
            "unbiased variance": ((layer_norm_unbiased,), "unbiased"),
            "eps outside the root": ((layer_norm_eps_outside,), "eps"),
            "no scale and shift": ((layer_norm_no_affine,), "ignores two of the arguments"),
            "eps ignored": ((layer_norm_fixed_eps,), "eps=1e-3"),
        },
        secrets=("F.layer_norm(", "sqrt(var + eps)", "unbiased=False"),
    ),
    "gelu": Case(
        ch_gpt,
        ch_gpt.check_gelu,
        (gelu,),
        2,
        variants={"float64": (gelu_float64,), "in-place": (gelu_in_place,)},
        wrong={
            "exact GELU": ((gelu_exact,), "exact GELU"),
            "ReLU": ((gelu_relu,), "ReLU"),
            "no cube": ((gelu_no_cube,), "constants"),
        },
        secrets=("approximate=", "0.044715"),
    ),
    "block_forward": Case(
        ch_gpt,
        ch_gpt.check_block_forward,
        (block_forward,),
        3,
        variants={"in-place": (block_forward_in_place,)},
        wrong={
            "post-norm": ((block_forward_post_norm,), "post-norm"),
            "no shortcut": ((block_forward_no_shortcut,), "shortcuts"),
            "parallel": ((block_forward_parallel,), "output of the attention"),
        },
        secrets=("block.att(block.norm1(x))", "drop_resid(att(norm1(x)))"),
    ),
    "parameter_count": Case(
        ch_gpt,
        ch_gpt.check_parameter_count,
        (count_parameters,),
        4,
        variants={"numpy int": (count_parameters_numpy,), "float": (count_parameters_float,)},
        wrong={
            "no final norm": ((count_parameters_no_final_norm,), "final LayerNorm"),
            "qkv bias always": ((count_parameters_always_qkv_bias,), "qkv bias"),
            "head always": ((count_parameters_untied,), "tied_head is True"),
        },
        secrets=("d*3d", "4d*d"),
    ),
}


def _check_source_lines(module: ModuleType) -> set[str]:
    """Code lines of a check module (not its string literals), which a learner must never see."""
    lines = set()
    for line in inspect.getsource(module).splitlines():
        text = line.strip()
        if len(text) > 12 and not text.startswith(('"', 'f"', "'", "#", "(", ")")):
            lines.add(text)
    return lines


def _rendered(error: BaseException) -> str:
    assert hasattr(error, "_render_traceback_"), f"{type(error).__name__} would show a full traceback"
    return "\n".join(error._render_traceback_())


def _assert_teaches(error: BaseException, case: Case) -> str:
    rendered = _rendered(error)
    assert 1 <= len(rendered.splitlines()) <= 12, rendered
    leaked = [line for line in _check_source_lines(case.module) if line in rendered]
    assert not leaked, f"the rendered failure shows the check's source: {leaked}"
    shown = [secret for secret in case.secrets if secret in rendered]
    assert not shown, f"the first failure gives the answer away: {shown}\n{rendered}"
    assert "File " not in rendered or "course_lib/checks" not in rendered
    return rendered


CHECK_IDS = list(CASES)


@pytest.mark.parametrize("name", CHECK_IDS)
def test_right_answer_passes_with_one_line(name: str, capsys):
    case = CASES[name]
    case.check(*case.right)
    out = capsys.readouterr().out
    assert out.startswith("✅") and out.count("\n") == 1, out


VARIANTS = [(name, variant) for name, case in CASES.items() for variant in case.variants]


@pytest.mark.parametrize(("name", "variant"), VARIANTS, ids=[f"{n}-{v}" for n, v in VARIANTS])
def test_right_variant_passes(name: str, variant: str, capsys):
    case = CASES[name]
    case.check(*case.variants[variant])
    assert capsys.readouterr().out.startswith("✅")


WRONG = [(name, wrong) for name, case in CASES.items() for wrong in case.wrong]


@pytest.mark.parametrize(("name", "wrong"), WRONG, ids=[f"{n}-{w}" for n, w in WRONG])
def test_wrong_answer_fails_with_a_short_message(name: str, wrong: str):
    case = CASES[name]
    args, text = case.wrong[wrong]
    with pytest.raises(checks.CheckFailed) as info:
        case.check(*args)
    assert isinstance(info.value, AssertionError), "nbval and pytest must see a failure"
    rendered = _assert_teaches(info.value, case)
    assert text in rendered, f"expected {text!r} in\n{rendered}"


def _stub(*args, **kwargs):
    raise NotImplementedError("Exercise not done yet: write your code here.")


@pytest.mark.parametrize("name", CHECK_IDS)
def test_unfinished_exercise_is_one_line(name: str):
    case = CASES[name]
    with pytest.raises(NotImplementedError) as info:
        case.check(*(_stub for _ in case.right))
    assert isinstance(info.value, checks.ExerciseNotDone)
    rendered = _rendered(info.value).splitlines()
    assert len(rendered) == 1
    label = case.exercise if isinstance(case.exercise, str) else f"Exercise {case.exercise}"
    assert f"{label} (_stub) is not done yet" in rendered[0]
    assert info.value.__suppress_context__, "the stub's own traceback must not be chained in"


def test_expected_values_are_computed_before_the_learner_runs():
    """An answer that scribbles over its inputs after computing the right result still passes."""

    def vandal(x):
        result = softmax(x.clone())
        x.fill_(float("nan"))
        return result

    ch_attention.check_softmax(vandal)


def test_learner_error_shows_the_learners_frames_not_the_checks():
    def layer_norm_typo(x, weight, bias, eps=1e-5):
        return (x - x.mean(-1)) / x.std(-1)  # shapes [2, 3, 8] and [2, 3] do not broadcast

    with pytest.raises(checks.CheckFailed) as info:
        ch_gpt.check_layer_norm(layer_norm_typo)
    rendered = _rendered(info.value)
    assert "Exercise 1 (layer_norm_typo) raised RuntimeError" in rendered
    assert "layer_norm_typo" in rendered and "test_checks.py" in rendered, "the learner's own frame is shown"
    assert "checks/gpt.py" not in rendered and "checks/__init__.py" not in rendered


def test_hints_become_more_explicit_on_repeated_failures():
    first = _rendered(_failure(ch_tokenizer.check_split_words, split_words_dash_split))
    second = _rendered(_failure(ch_tokenizer.check_split_words, split_words_dash_split))
    assert first != second
    assert "Run the check again for a more detailed hint" in first
    assert "three alternatives" in second and WORDS not in second


def _failure(check: Callable[..., None], *args) -> checks.CheckFailed:
    with pytest.raises(checks.CheckFailed) as info:
        check(*args)
    return info.value


def test_expect_close_accepts_negative_strides_and_grad_and_reports_shape():
    checks.expect_close(np.arange(6.0)[::-1], torch.arange(6.0).flip(0), what="x", hint="h")
    checks.expect_close(torch.ones(3, requires_grad=True) * 2, [2.0, 2.0, 2.0], what="x", hint="h")
    with pytest.raises(checks.CheckFailed, match="wrong shape"):
        checks.expect_close(torch.ones(3, 2), torch.ones(2, 3), what="x", hint="h")
    with pytest.raises(checks.CheckFailed, match="returned None"):
        checks.expect_close(None, torch.ones(2), what="x", hint="h")
