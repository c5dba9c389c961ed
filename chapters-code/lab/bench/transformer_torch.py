#!/usr/bin/env python3
"""PyTorch's CPU speed on chapter 8's default transformer, for side-by-side runs with its train_bench.

    /tmp/torchenv/bin/python chapters-code/lab/bench/transformer_torch.py --steps 100 --threads 2
    cargo run --release -p ch08-transformers --example train_bench -- --steps 100 --threads 2

The model is lab::transformer's: vocabulary 16, 16 positions, width 32, 4 heads, MLP width 128
(ReLU), LayerNorm, Pre-LN (or --post-ln) with a final norm, learned token and position embeddings,
a linear head at every position; the sorting task (targets: the sorted input), batch 32, mean
cross-entropy over positions, Adam (lr 1e-3), float32. One step: draw a batch, forward, loss,
backward, the Adam update, read the loss back. The last line is `steps_per_sec: <number>`.

A benchmark, not a test: CI does not need torch.
"""

import argparse
import math
import time

import torch
from torch import nn


def positive(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got `{s}`")
    return v


class Block(nn.Module):
    def __init__(self, d, heads, d_ff, pre):
        super().__init__()
        self.h, self.pre = heads, pre
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.w1, self.w2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def attn(self, x):
        b, t, d = x.shape
        split = lambda y: y.view(b, t, self.h, d // self.h).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.h), dim=-1)
        return self.o((w @ v).transpose(1, 2).reshape(b, t, d))

    def mlp(self, x):
        return self.w2(torch.relu(self.w1(x)))

    def forward(self, x):
        if self.pre:
            x = x + self.attn(self.n1(x))
            return x + self.mlp(self.n2(x))
        x = self.n1(x + self.attn(x))
        return self.n2(x + self.mlp(x))


class Model(nn.Module):
    def __init__(self, vocab, t, d, heads, d_ff, blocks, pre):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Parameter(torch.randn(t, d) * 0.5**0.5)
        self.blocks = nn.ModuleList(Block(d, heads, d_ff, pre) for _ in range(blocks))
        self.final = nn.LayerNorm(d) if pre else nn.Identity()
        self.head = nn.Linear(d, vocab)

    def forward(self, x):
        h = self.tok(x) + self.pos
        for b in self.blocks:
            h = b(h)
        return self.head(self.final(h))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=positive, default=100, help="timed steps (after 5 untimed ones)")
    p.add_argument("--blocks", type=positive, default=6)
    p.add_argument("--batch", type=positive, default=32)
    p.add_argument("--threads", type=positive, default=None)
    p.add_argument("--post-ln", action="store_true")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    vocab, t = 16, 16
    model = Model(vocab, t, 32, 4, 128, a.blocks, not a.post_ln)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        x = torch.randint(0, vocab, (a.batch, t))
        y, _ = torch.sort(x, dim=1)
        loss = loss_fn(model(x).reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        last = step()
    secs = time.perf_counter() - start
    print(f"{a.blocks} blocks, batch {a.batch}, {torch.get_num_threads()} threads, last loss {last:.3f}")
    print(f"steps_per_sec: {a.steps / secs:.1f}")


if __name__ == "__main__":
    main()
