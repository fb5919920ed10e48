"""Benchmark of notebook 03's tokenizers on Tiny Shakespeare (1.1 MB).

Measures, in one run on the same text:

1. BPE training time of course_lib's incremental trainer and of Hugging Face
   ``tokenizers`` (Rust) with the same GPT-2 pre-tokenization regex (its
   ByteLevel pre-tokenizer), the same 256-byte base alphabet and the same
   vocabulary size, at 512 and 2048. ``RAYON_NUM_THREADS=1`` keeps HF on one
   thread, like ours. The two trainers break ties differently, so we compare
   times, not merges.
2. The naive trainer (recount every pair of the corpus before each merge), run
   on a slice and extrapolated to the whole text: its cost per merge is linear
   in the corpus length and the number of merges is the same. The fast trainer
   is also timed on that slice, so one ratio is measured, not extrapolated.
3. Encoding all of Tiny Shakespeare with our GPT-2 tokenizer (cold cache) and
   with tiktoken.

Each time is the best of ``--repeats`` runs. The last line printed is one JSON
object with every figure (seconds and ratios).

    python benchmarks/bpe.py [--repeats 3] [--naive-chars 100000]
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers is imported: HF on one thread


def hf_train(text: str, vocab_size: int) -> None:
    """Train HF tokenizers' byte-level BPE; the text is fed in blocks of whole lines (~10 kB)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    lines = text.splitlines(keepends=True)
    blocks = ["".join(lines[i : i + 300]) for i in range(0, len(lines), 300)]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(blocks, trainer=trainer)
    assert tokenizer.get_vocab_size() == vocab_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-chars", type=int, default=100_000, help="slice length for the naive trainer")
    args = parser.parse_args()

    import tiktoken

    from course_lib.bpe import BPETokenizer, train_merges_naive
    from course_lib.data import fetch
    from course_lib.runtime import best_time
    from course_lib.tokenizer import load_gpt2_tokenizer

    text = fetch("tinyshakespeare").read_text(encoding="utf-8")
    print(
        f"Tiny Shakespeare: {len(text):,} characters; {os.cpu_count()} CPU cores; "
        f"RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}; best of {args.repeats}"
    )
    result: dict[str, float | int] = {"corpus_chars": len(text)}

    print("\n1. training, whole text")
    for vocab_size in (512, 2048):
        ours = best_time(lambda v=vocab_size: BPETokenizer.train(text, v), args.repeats, warmup=0)
        hf = best_time(lambda v=vocab_size: hf_train(text, v), args.repeats, warmup=0)
        result[f"ours_train_{vocab_size}_s"] = round(ours, 4)
        result[f"hf_train_{vocab_size}_s"] = round(hf, 4)
        result[f"ours_over_hf_{vocab_size}"] = round(ours / hf, 3)
        print(f"   vocab {vocab_size:>5}: ours {ours:6.2f} s   HF tokenizers {hf:6.2f} s   ours/HF = {ours / hf:.2f}")

    print(f"\n2. naive trainer, vocab 512, on the first {args.naive_chars:,} characters")
    part = text[: args.naive_chars]
    naive = best_time(lambda: train_merges_naive(part, 512), 1, warmup=0)
    fast = best_time(lambda: BPETokenizer.train(part, 512), args.repeats, warmup=0)
    naive_full = naive * len(text) / len(part)
    result.update(
        naive_chars=len(part),
        naive_slice_s=round(naive, 3),
        ours_slice_s=round(fast, 4),
        naive_over_ours_slice=round(naive / fast, 1),
        naive_full_extrapolated_s=round(naive_full, 1),
        naive_over_ours_full=round(naive_full / result["ours_train_512_s"], 1),
    )
    print(f"   slice: naive {naive:.2f} s, ours {fast:.3f} s -> ours is {naive / fast:.0f}x faster")
    print(
        f"   whole text: naive ~{naive_full:.0f} s (extrapolated) vs ours {result['ours_train_512_s']:.2f} s"
        f" -> ~{result['naive_over_ours_full']:.0f}x faster"
    )

    print("\n3. GPT-2 encoding of the whole text")
    ours_tok = load_gpt2_tokenizer()
    reference = tiktoken.get_encoding("gpt2")
    assert ours_tok.encode(text) == reference.encode(text), "our GPT-2 ids differ from tiktoken's"

    def encode_cold() -> None:
        ours_tok._cache.clear()
        ours_tok.encode(text)

    ours_enc = best_time(encode_cold, args.repeats, warmup=0)
    tik_enc = best_time(lambda: reference.encode(text), args.repeats, warmup=0)
    result.update(
        ours_gpt2_encode_s=round(ours_enc, 4),
        tiktoken_encode_s=round(tik_enc, 4),
        ours_over_tiktoken=round(ours_enc / tik_enc, 2),
    )
    ratio = ours_enc / tik_enc
    print(f"   ours (cold cache) {ours_enc:.3f} s   tiktoken {tik_enc:.3f} s   ours/tiktoken = {ratio:.1f}")

    goals = {
        "train_512_within_2x_hf": result["ours_over_hf_512"] <= 2,
        "train_2048_within_4x_hf": result["ours_over_hf_2048"] <= 4,
        "at_least_80x_naive": result["naive_over_ours_full"] >= 80,
        "encode_within_10x_tiktoken": result["ours_over_tiktoken"] <= 10,
    }
    print("\ngoals: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in goals.items()))
    result.update(goals)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
