"""A BERT WordPiece tokenizer (uncased) in plain Python, read from the model's own ``vocab.txt``.

The packaged MiniLM ships its vocabulary but tokenizing with it through Hugging Face ``tokenizers`` would
pull ``huggingface_hub`` and its network stack into ovq for ~100 lines of logic. This reproduces
``BertTokenizer(do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None)`` exactly for the
text the recipe feeds it (checked against ``tokenizers`` on every sentence of the recipe's text set).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

_MAX_CHARS_PER_WORD = 100


def _is_whitespace(char: str) -> bool:
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    # BERT treats every non-alphanumeric ASCII symbol as punctuation, `$` and `^` included, although
    # Unicode files some of them under symbols.
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


class WordPieceTokenizer:
    """Turns text into fixed-length ``input_ids`` and ``attention_mask`` rows, as BERT expects."""

    def __init__(self, vocab_file: Path) -> None:
        tokens = vocab_file.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        self.vocab: dict[str, int] = {token: index for index, token in enumerate(tokens)}
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]

    def _basic_tokens(self, text: str) -> list[str]:
        cleaned = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or _is_control(char):
                continue
            if _is_whitespace(char):
                cleaned.append(" ")
            elif _is_cjk(code):
                cleaned.append(f" {char} ")
            else:
                cleaned.append(char)
        words = []
        for word in "".join(cleaned).lower().split():
            # Lower-casing BERT also strips accents: decompose, then drop the combining marks.
            word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
            current = ""
            for char in word:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _word_pieces(self, word: str) -> list[int]:
        if len(word) > _MAX_CHARS_PER_WORD:
            return [self.unk_id]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            piece_id = None
            while start < end:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in self.vocab:
                    piece_id = self.vocab[candidate]
                    break
                end -= 1
            if piece_id is None:
                return [self.unk_id]
            pieces.append(piece_id)
            start = end
        return pieces

    def token_ids(self, text: str) -> list[int]:
        """The WordPiece ids of ``text`` without special tokens or truncation."""
        return [piece for word in self._basic_tokens(text) for piece in self._word_pieces(word)]

    def encode(self, text: str, sequence_length: int) -> dict[str, np.ndarray]:
        """``[CLS] text [SEP]`` truncated/padded to ``sequence_length``, with a batch dimension of 1."""
        ids = [self.cls_id, *self.token_ids(text)[: sequence_length - 2], self.sep_id]
        input_ids = np.full((1, sequence_length), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((1, sequence_length), dtype=np.int64)
        input_ids[0, : len(ids)] = ids
        attention_mask[0, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}
