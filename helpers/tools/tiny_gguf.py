"""A tiny llama-architecture GGUF with random weights, made here with no download.

`make real-engine` runs it with the Python of `.venv-llama/`, which has `gguf` and numpy:
`.venv-llama/bin/python -m helpers.tools.tiny_gguf OUT.gguf`. Neither is a project dependency,
so both are imported inside `write_model`, and this module imports without them.

The tokenizer is a SentencePiece ("llama") vocabulary built here: `<unk>`, `<s>`, `</s>`, the
256 byte tokens llama.cpp falls back on, `▁`, the printable ASCII characters and a few words
with every prefix (SPM merges a word only through pieces in the vocabulary). The weights are
random, so the text is gibberish, but shaped to be readable gibberish: one hidden dimension is
constant, nothing writes to it, and the output rows of the control and byte tokens read it
with a large negative weight. Those tokens are never sampled, so the model never stops by itself
(`</s>`) and never emits half of a UTF-8 character. Every answer ends at `max_tokens` or at the
context the server is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "ModelShape", "vocabulary", "write_model"]

# Plain text, so that every piece of the prompt is in the vocabulary; a Jinja template that
# llama-cpp-python renders itself (Jinja2ChatFormatter) as it would a real model's.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)
WORDS = ("stream", "token", "chunk", "delta", "model", "the", "and", "answer", "done", "time")
SPECIAL = ("<unk>", "<s>", "</s>")
# gguf's TokenType values.
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


@dataclass(frozen=True)
class ModelShape:
    """The model's hyperparameters: small enough to write in a second and run at once."""

    embedding: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    feed_forward: int = 128
    context: int = 512


def vocabulary() -> list[tuple[str, float, int]]:
    """Every token as (piece, SPM score, token type), in id order: `<unk>`=0, `<s>`=1, `</s>`=2."""
    tokens = [(SPECIAL[0], 0.0, UNKNOWN), *((piece, 0.0, CONTROL) for piece in SPECIAL[1:])]
    tokens += [(f"<0x{byte:02X}>", 0.0, BYTE) for byte in range(256)]
    pieces = ["▁", *(chr(code) for code in range(0x21, 0x7F))]
    pieces += [
        prefix
        for word in WORDS
        for prefix in ("▁" + word[:end] for end in range(1, len(word) + 1))
        if prefix not in pieces
    ]
    # SPM merges the pair whose piece scores highest first: longer pieces win.
    tokens += [(piece, float(len(piece)), NORMAL) for piece in dict.fromkeys(pieces)]
    return tokens


def write_model(path: Path, shape: ModelShape = ModelShape(), seed: int = 0) -> int:
    """Write the model to `path`; return its size in bytes."""
    # Neither need be installed where mypy runs: .venv has numpy (for matplotlib), not gguf.
    import gguf  # type: ignore[import-not-found, unused-ignore]
    import numpy as np  # type: ignore[import-not-found, unused-ignore]
    from numpy.typing import NDArray  # type: ignore[import-not-found, unused-ignore]

    rng = np.random.default_rng(seed)
    vocab = vocabulary()
    head_dim = shape.embedding // shape.heads

    def random(*dims: int) -> NDArray[np.float32]:
        return rng.normal(0.0, 0.02, dims).astype(np.float32)

    def into_residual(*dims: int) -> NDArray[np.float32]:
        # Nothing a layer adds may change the constant dimension 0.
        weight = random(*dims)
        weight[0] = 0.0
        return weight

    embeddings = random(len(vocab), shape.embedding)
    embeddings[:, 0] = 1.0
    output = rng.normal(0.0, 1.0, (len(vocab), shape.embedding)).astype(np.float32)
    output[:, 0] = [0.0 if kind == NORMAL else -20.0 for _, _, kind in vocab]

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.embedding)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.feed_forward)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)  # all F32
    writer.add_tokenizer_model("llama")
    writer.add_token_list([piece for piece, _, _ in vocab])
    writer.add_token_scores([score for _, score, _ in vocab])
    writer.add_token_types([kind for _, _, kind in vocab])
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template(CHAT_TEMPLATE)

    ones = np.ones(shape.embedding, dtype=np.float32)
    writer.add_tensor("token_embd.weight", embeddings)
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", output)
    kv_width = shape.kv_heads * head_dim
    for layer in range(shape.layers):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", ones)
        writer.add_tensor(f"{block}.attn_q.weight", random(shape.embedding, shape.embedding))
        writer.add_tensor(f"{block}.attn_k.weight", random(kv_width, shape.embedding))
        writer.add_tensor(f"{block}.attn_v.weight", random(kv_width, shape.embedding))
        writer.add_tensor(
            f"{block}.attn_output.weight", into_residual(shape.embedding, shape.embedding)
        )
        writer.add_tensor(f"{block}.ffn_norm.weight", ones)
        writer.add_tensor(f"{block}.ffn_gate.weight", random(shape.feed_forward, shape.embedding))
        writer.add_tensor(f"{block}.ffn_up.weight", random(shape.feed_forward, shape.embedding))
        writer.add_tensor(
            f"{block}.ffn_down.weight", into_residual(shape.embedding, shape.feed_forward)
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.stat().st_size


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m helpers.tools.tiny_gguf OUT.gguf [--seed N]`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.tools.tiny_gguf",
        description="Write a tiny llama-architecture GGUF with random weights.",
    )
    parser.add_argument("out", type=Path, help="the .gguf file to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights (0)")
    args = parser.parse_args(argv)
    size = write_model(args.out, seed=args.seed)
    print(f"{args.out}: {len(vocabulary())} tokens, {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
