"""Tokenizers of notebook 03: word tokenizer, byte-level BPE, and GPT-2's tokenizer against tiktoken."""

from __future__ import annotations

import json
import random

import pytest
import tiktoken

from course_lib.bpe import (
    BPETokenizer,
    bytes_to_unicode,
    count_pairs,
    count_pretokens,
    merge_pair,
    train_merges_naive,
)
from course_lib.data import fetch
from course_lib.tokenizer import (
    END_OF_TEXT,
    UNK,
    GPT2Tokenizer,
    SimpleWordTokenizer,
    load_gpt2_tokenizer,
    split_words,
)

NASTY = [
    "héllo wörld, naïve café",
    "emoji 😀🎉 and flags 🏳️‍🌈 and a family 👨‍👩‍👧",
    "CJK 你好世界, こんにちは, 안녕하세요",
    "a  b   c    d",
    "trailing spaces   ",
    "   leading spaces",
    "new\nlines\n\n\nand\r\nwindows\r\n",
    "\t\ttabs\tand\u00a0nbsp and\u200bzero width",
    "digits 1234567890 3.14159 1,000,000 2024-01-01 007",
    "contractions: I'm you'll they've she'd we're it's DON'T 's 't",
    "symbols !!! ??? ... --- *** @#$%^&*() <html></html> {json: [1, 2]}",
    "mixed\n  indented code:\n    return x  # comment\n",
    " ",
    "",
    "<|endoftext",
    "x" * 1000,
]


@pytest.fixture(scope="module")
def gpt2() -> GPT2Tokenizer:
    return load_gpt2_tokenizer()


@pytest.fixture(scope="module")
def tiktoken_gpt2():
    return tiktoken.get_encoding("gpt2")


@pytest.fixture(scope="module")
def shakespeare() -> str:
    return fetch("tinyshakespeare").read_text(encoding="utf-8")


# --- GPT-2: our code == tiktoken --------------------------------------------------------------


@pytest.mark.parametrize("name", ["the-verdict", "tinyshakespeare"])
def test_gpt2_equals_tiktoken_on_whole_corpora(gpt2, tiktoken_gpt2, name):
    text = fetch(name).read_text(encoding="utf-8")
    ours = gpt2.encode(text)
    assert ours == tiktoken_gpt2.encode(text)
    assert gpt2.decode(ours) == text
    if name == "the-verdict":
        assert len(ours) == 5145


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_gpt2_equals_tiktoken_on_nasty_strings(gpt2, tiktoken_gpt2, text):
    assert gpt2.encode(text) == tiktoken_gpt2.encode(text)
    assert gpt2.decode(gpt2.encode(text)) == text


def test_gpt2_known_ids(gpt2):
    assert gpt2.encode("Hello, world") == [15496, 11, 995]
    assert gpt2.eot_id == 50256
    assert gpt2.vocab_size == 50257
    assert gpt2.decode([50256]) == END_OF_TEXT


def test_gpt2_special_tokens_follow_tiktoken(gpt2, tiktoken_gpt2):
    text = "The end.<|endoftext|>A new document<|endoftext|>"
    for kwargs in ({"allowed_special": {END_OF_TEXT}}, {"allowed_special": "all"}, {"disallowed_special": ()}):
        assert gpt2.encode(text, **kwargs) == tiktoken_gpt2.encode(text, **kwargs), kwargs
    assert gpt2.encode(text, allowed_special="all").count(50256) == 2
    assert 50256 not in gpt2.encode(text, disallowed_special=())
    with pytest.raises(ValueError, match="allowed_special"):
        gpt2.encode(text)
    with pytest.raises(ValueError, match="allowed_special"):
        tiktoken_gpt2.encode(text)
    with pytest.raises(ValueError, match="unknown special"):
        gpt2.encode(text, allowed_special={"<|im_start|>"})


def test_gpt2_decode_replaces_invalid_utf8(gpt2, tiktoken_gpt2):
    ids = gpt2.encode("😀")  # several byte-level tokens
    assert len(ids) > 1
    assert gpt2.decode(ids[:1]) == tiktoken_gpt2.decode(ids[:1]) == "\ufffd"
    with pytest.raises(ValueError, match="not in this tokenizer"):
        gpt2.decode([50257])
    with pytest.raises(ValueError, match="id 50257 is not in this tokenizer's vocabulary of 50257 ids"):
        gpt2.token_strings([464, 50257])


def test_gpt2_cache_gives_the_same_ids(gpt2):
    gpt2._cache.clear()
    first = gpt2.encode("the cat and the hat and the bat")
    assert sorted(gpt2._cache) == [" and", " bat", " cat", " hat", " the", "the"]  # 8 pre-tokens, 6 distinct
    assert gpt2.encode("the cat and the hat and the bat") == first


# --- byte-level BPE ----------------------------------------------------------------------------


def test_count_and_merge_pairs():
    assert count_pairs([1, 2, 1, 2, 3]) == {(1, 2): 2, (2, 1): 1, (2, 3): 1}
    assert merge_pair([1, 2, 1, 2, 3], (1, 2), 9) == [9, 9, 3]
    assert merge_pair([7, 7, 7], (7, 7), 9) == [9, 7]
    assert merge_pair([], (1, 2), 9) == []


def test_bytes_to_unicode_is_a_printable_bijection():
    mapping = bytes_to_unicode()
    assert len(set(mapping.values())) == 256
    assert mapping[ord(" ")] == "Ġ" and mapping[ord("\n")] == "Ċ" and mapping[ord("A")] == "A"
    assert all(ch.isprintable() and not ch.isspace() for ch in mapping.values())


def test_wikipedia_example_merges():
    # Wikipedia: aaabdaaabac -> ZabdZabac -> ZYdZYac -> XdXac (Z=aa, Y=ab, X=ZY)
    merges = BPETokenizer.train("aaabdaaabac", 259).merge_list
    a, b = ord("a"), ord("b")
    assert merges[0] == (a, a)  # 4 times
    assert merges[1] == (a, b)  # 2 times, tied with (256, a); the smaller pair wins
    assert merges[2] == (256, 257)


def test_fast_trainer_equals_naive_trainer(shakespeare):
    text = shakespeare[:8000]
    assert BPETokenizer.train(text, 356).merge_list == train_merges_naive(text, 356)
    tricky = "aaaa bbbb abab aaaaaaa " * 7 + "ab ba aba bab"
    assert BPETokenizer.train(tricky, 270).merge_list == train_merges_naive(tricky, 270)


def test_training_is_deterministic_and_order_independent():
    rng = random.Random(0)
    words = [rng.choice(["the", "then", "there", "hat", "that", "at", "a", "ha"]) for _ in range(2000)]
    text = "".join(" " + w for w in words)
    shuffled = words[:]
    rng.shuffle(shuffled)
    first = BPETokenizer.train(text, 266).merge_list
    assert BPETokenizer.train(text, 266).merge_list == first
    assert BPETokenizer.train("".join(" " + w for w in shuffled), 266).merge_list == first


@pytest.fixture(scope="module")
def trained(shakespeare) -> BPETokenizer:
    return BPETokenizer.train(shakespeare[:100_000], 600, special_tokens=[END_OF_TEXT])


def test_round_trip_of_arbitrary_bytes_and_text(trained):
    rng = random.Random(1)
    for _ in range(50):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        assert trained.decode_bytes(trained.encode_chunk(data)) == data
    alphabet = "abc XYZ\n\t é中😀!?,.'0123"
    for _ in range(50):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 300)))
        assert trained.decode(trained.encode(text)) == text
    assert trained.decode([0xFF]) == "\ufffd"  # a lone invalid byte decodes with errors="replace"


def test_trained_tokenizer_matches_tiktoken_with_our_merges(trained, shakespeare):
    ranks = {trained.vocab[i]: i for i in range(256 + len(trained.merges))}
    reference = tiktoken.Encoding(
        "course-bpe", pat_str=trained.pattern, mergeable_ranks=ranks, special_tokens=trained.special_tokens
    )
    text = shakespeare[100_000:140_000] + "<|endoftext|>" + NASTY[1] + NASTY[2]
    assert trained.encode(text, allowed_special="all") == reference.encode(text, allowed_special="all")


def test_special_tokens_are_never_merged_and_get_the_last_ids(trained):
    assert trained.vocab_size == 600
    assert trained.special_tokens == {END_OF_TEXT: 599}
    text = END_OF_TEXT.join(["to be or not"] * 300)
    tok = BPETokenizer.train(text, 265, special_tokens=[END_OF_TEXT])  # all 8 possible merges
    learned = [tok.vocab[i] for i in range(256, 256 + len(tok.merges))]
    assert not any(b"<|" in t or b"|>" in t for t in learned)
    assert tok.encode("not<|endoftext|>to", allowed_special="all")[-2] == tok.special_tokens[END_OF_TEXT]


def test_save_and_load_round_trip(trained, tmp_path):
    path = tmp_path / "bpe.json"
    trained.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["special_tokens"] == {END_OF_TEXT: 599}
    assert data["merges"][:2] == ["Ġ t", "h e"]  # " t" and "he", in GPT-2's printable alphabet
    loaded = BPETokenizer.load(path)
    assert loaded.merges == trained.merges and loaded.special_tokens == trained.special_tokens
    text = "Wherefore art thou, Romeo? 😀<|endoftext|>"
    assert loaded.encode(text, allowed_special="all") == trained.encode(text, allowed_special="all")


def test_truncated_equals_training_to_the_smaller_size(shakespeare):
    text = shakespeare[:20_000]
    assert BPETokenizer.train(text, 400).truncated(300).merges == BPETokenizer.train(text, 300).merges


def test_count_pretokens_groups_repeats():
    counts = count_pretokens("the cat the cat the")
    assert counts == {b"the": 1, b" cat": 2, b" the": 2}


# --- bad input ---------------------------------------------------------------------------------


def test_bad_training_input_gives_clear_errors():
    with pytest.raises(ValueError, match="vocab_size=256 is too small.*>= 257"):
        BPETokenizer.train("hello", 256, special_tokens=[END_OF_TEXT])
    with pytest.raises(ValueError, match="too small"):
        train_merges_naive("hello", 200)
    with pytest.raises(ValueError, match="empty"):
        BPETokenizer.train("", 300)
    with pytest.raises(ValueError, match="ran out of pairs to merge after 4 of 44 merges"):
        BPETokenizer.train("hello", 300)
    with pytest.raises(ValueError, match="ran out of pairs"):
        train_merges_naive("hello", 300)
    with pytest.raises(ValueError, match="nothing but special"):
        BPETokenizer.train(END_OF_TEXT * 3, 300, special_tokens=[END_OF_TEXT])


def test_disallowed_special_in_trained_tokenizer(trained):
    with pytest.raises(ValueError, match="not allowed"):
        trained.encode("a<|endoftext|>b")
    assert trained.encode("a<|endoftext|>b", disallowed_special=()) == trained.encode_ordinary("a<|endoftext|>b")


def test_gpt2_tokenizer_cannot_be_saved_as_trained_bpe(gpt2, tmp_path):
    with pytest.raises(TypeError, match="encoder.json"):
        gpt2.save(tmp_path / "x.json")


# --- the word tokenizer ------------------------------------------------------------------------


def test_split_words():
    assert split_words("Hello, world--isn't it?") == ["Hello", ",", "world", "--", "isn", "'", "t", "it", "?"]
    assert split_words("  \n ") == []


def test_word_tokenizer_round_trip_unk_and_end_of_text():
    text = fetch("the-verdict").read_text(encoding="utf-8")
    tok = SimpleWordTokenizer.from_text(text)
    assert tok.vocab_size == len(set(split_words(text))) + 2
    sample = "It's the last he painted, you know--Mrs. Gisburn said."
    ids = tok.encode(sample)
    assert tok.decode(ids) == sample
    assert tok.encode(tok.decode(ids)) == ids
    mixed = tok.encode("Hello, palace<|endoftext|>In the sunlit terraces")
    assert mixed.count(tok.str_to_id[UNK]) == 2  # "Hello" and "palace" are not in The Verdict
    assert tok.str_to_id[END_OF_TEXT] in mixed
    strict = SimpleWordTokenizer.from_text(text, specials=())
    with pytest.raises(KeyError, match="'Hello' is not in the vocabulary"):
        strict.encode("Hello, world")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([tok.vocab_size])


# --- lone surrogates: as tiktoken does -------------------------------------------------------

SURROGATES = [
    "\ud800",  # a lone high surrogate
    "lone \udfff low",
    "pair written as two halves: \ud83d\ude00",  # becomes 😀, as in tiktoken
    "mixed \ud800 and 😀 and \udc00\ud800",
    "\ud800" * 5 + " words after",
]


@pytest.mark.parametrize("text", SURROGATES, ids=range(len(SURROGATES)))
def test_gpt2_encodes_lone_surrogates_as_tiktoken_does(gpt2, tiktoken_gpt2, text):
    assert gpt2.encode(text) == tiktoken_gpt2.encode(text)
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)
    assert "\ufffd" in gpt2.decode(gpt2.encode(text)) or "😀" in gpt2.decode(gpt2.encode(text))


def test_a_trained_tokenizer_takes_surrogates_in_training_and_encoding():
    tok = BPETokenizer.train("ab \ud800 ab ab", 260)
    assert tok.decode(tok.encode("ab \udfff")) == "ab \ufffd"


# --- tokenizer files: validated on load, errors name the file ---------------------------------


def _saved(tmp_path, trained, edit):
    path = tmp_path / "tok.json"
    trained.truncated(300).save(path)
    if edit is not None:
        data = json.loads(path.read_text(encoding="utf-8"))
        edited = edit(data)
        path.write_text(edited if isinstance(edited, str) else json.dumps(edited), encoding="utf-8")
    return path


def _with(data, **changes):
    return {**data, **changes}


def _without(data, key):
    return {k: v for k, v in data.items() if k != key}


BROKEN_FILES = [
    (lambda d: "{not json", r"is not a JSON tokenizer file"),
    (lambda d: [1, 2, 3], r"holds a JSON list"),
    (lambda d: _without(d, "format"), r"not a file written by BPETokenizer\.save \(format None\)"),
    (lambda d: _with(d, format="minbpe v1"), r"not a file written by BPETokenizer\.save \(format 'minbpe v1'\)"),
    (lambda d: _with(d, format="course_lib byte-level BPE, version 2"), r"format version 2.*reads version 1"),
    (lambda d: _without(d, "merges"), r"'merges' is None.*lacks the key"),
    (lambda d: _with(d, merges="Ġ t"), r"'merges' is 'Ġ t' \(a str\).*holds a list"),
    (lambda d: _with(d, special_tokens=["<|endoftext|>"]), r"'special_tokens' is .*holds a dict"),
    (lambda d: _with(d, pattern=None), r"'pattern' is None.*holds a str"),
    (lambda d: _with(d, merges=["Ġt", *d["merges"][1:]]), r"merges\[0\] is 'Ġt'.*separated by one space"),
    (lambda d: _with(d, merges=["Ġ  t", *d["merges"][1:]]), r"merges\[0\]"),
    (lambda d: _with(d, merges=["€ t", *d["merges"][1:]]), r"merges\[0\] is '€ t'.*printable"),
    (lambda d: _with(d, merges=[3, *d["merges"][1:]]), r"merges\[0\] is 3 \(an int\)"),
    (lambda d: _with(d, merges=d["merges"][1:]), r"merges\[\d+\] \(.*\) joins a token that no earlier merge made"),
    (lambda d: _with(d, special_tokens={"<|endoftext|>": 5}), r"special token '<\|endoftext\|>' has id 5.*below 300"),
    (lambda d: _with(d, special_tokens={"<|endoftext|>": 300.0}), r"has id 300\.0"),
    (lambda d: _with(d, special_tokens={"<a>": 300, "<b>": 300}), r"two special tokens share an id"),
    (lambda d: _with(d, pattern=r"(a+)+$"), r"pattern '\(a\+\)\+\$' .*is none of the known ones.*trust_pattern=True"),
    (lambda d: _with(d, pattern=r"\w+"), r"none of the known ones \(gpt2, gpt4"),
]


@pytest.mark.parametrize("edit, message", BROKEN_FILES, ids=range(len(BROKEN_FILES)))
def test_a_broken_tokenizer_file_is_an_error_naming_the_file(trained, tmp_path, edit, message):
    from course_lib.bpe import TokenizerFileError

    path = _saved(tmp_path, trained, edit)
    with pytest.raises(TokenizerFileError, match=message) as error:
        BPETokenizer.load(path)
    assert str(path) in str(error.value)
    assert isinstance(error.value, ValueError) and error.value.__cause__ is None


def test_an_untrusted_pattern_is_refused_before_it_runs(trained, tmp_path):
    import time

    path = _saved(tmp_path, trained, lambda d: _with(d, pattern=r"(a|aa)+$"))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="trust_pattern=True"):
        BPETokenizer.load(path)
    assert time.perf_counter() - start < 1.0


def test_a_trusted_pattern_loads_and_a_bad_regex_still_fails(trained, tmp_path):
    path = _saved(tmp_path, trained, lambda d: _with(d, pattern=r"\w+|\s+|[^\w\s]+"))
    loaded = BPETokenizer.load(path, trust_pattern=True)
    assert loaded.pattern == r"\w+|\s+|[^\w\s]+"
    broken = _saved(tmp_path, trained, lambda d: _with(d, pattern=r"(unclosed"))
    with pytest.raises(ValueError, match=r"tok\.json: its pattern is not a valid regex"):
        BPETokenizer.load(broken, trust_pattern=True)


@pytest.mark.parametrize("name", ["gpt2", "gpt4", "gpt4-first-release", "whole-text"])
def test_the_known_patterns_load_without_trust(trained, tmp_path, name):
    from course_lib.bpe import KNOWN_PATTERNS

    path = _saved(tmp_path, trained, lambda d: _with(d, pattern=KNOWN_PATTERNS[name]))
    assert BPETokenizer.load(path).pattern == KNOWN_PATTERNS[name]


def test_gpt4_pattern_is_tiktokens_cl100k_pattern():
    import inspect

    import tiktoken_ext.openai_public as openai_public

    from course_lib.bpe import GPT4_PATTERN

    assert f'r"""{GPT4_PATTERN}"""' in inspect.getsource(openai_public.cl100k_base)


def test_damaged_gpt2_files_are_errors_naming_the_file(tmp_path):
    encoder = tmp_path / "encoder.json"
    vocab = tmp_path / "vocab.bpe"
    vocab.write_text("#version: 0.2\nĠ t\n", encoding="utf-8")
    encoder.write_text("{truncated", encoding="utf-8")
    with pytest.raises(ValueError, match=r"encoder\.json is not GPT-2's encoder\.json: it is not JSON"):
        GPT2Tokenizer.from_files(encoder, vocab)
    encoder.write_text(json.dumps({"a": 0}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"encoder\.json is not GPT-2's encoder\.json.*missing"):
        GPT2Tokenizer.from_files(encoder, vocab)
    full = {ch: i for i, ch in enumerate(bytes_to_unicode().values())} | {"Ġt": 256, END_OF_TEXT: 257}
    encoder.write_text(json.dumps(full), encoding="utf-8")
    vocab.write_text("#version: 0.2\nĠ t x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab\.bpe, line 2: 'Ġ t x' is not a merge"):
        GPT2Tokenizer.from_files(encoder, vocab)
    vocab.write_text("#version: 0.2\nĠ t\n", encoding="utf-8")
    assert GPT2Tokenizer.from_files(encoder, vocab).encode(" t") == [256]
