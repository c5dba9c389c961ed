#!/usr/bin/env python3
"""PyTorch's CPU speed on the book's workload W1, for side-by-side runs with lab's step_bench.

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch numpy --index-url https://download.pytorch.org/whl/cpu
    /tmp/torchenv/bin/python chapters-code/lab/bench/w1_torch.py --threads 1
    cargo run --release -p lab --example step_bench -- --depth 20 --width 256 --batch 128 \
        --activation sigmoid --steps 200 --threads 1

W1: an MLP of 20 hidden layers x 256 (input 256), sigmoid, batch 128, 10-class softmax
cross-entropy, plain SGD (lr 0.01), float32, Xavier-uniform weights and zero biases for sigmoid,
He-normal for ReLU. One step is what step_bench times: forward in training mode, the mean
cross-entropy, backward, the SGD update, and reading the loss back. The flags mirror step_bench's
(--depth, --width, --batch, --activation, --norm batch, --residual, --steps, --warmup, --batches,
--threads), so the siblings compare the same way. The inputs are Gaussian with labels from a
random linear teacher, all generated before the clock starts; the speed does not depend on them.
The last line is `steps_per_sec: <number>`, as step_bench's.

A benchmark, not a test: CI does not need torch. Numbers: chapters-code/lab/PERFORMANCE.md.
"""

import argparse
import time

import torch
from torch import nn


def positive(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got `{s}`")
    return v


def normal_init(s):
    kind, _, std = s.partition(":")
    try:
        value = float(std)
    except ValueError:
        value = -1.0
    if kind != "normal" or not value > 0:
        raise argparse.ArgumentTypeError(f"expected normal:STD with STD > 0, got `{s}`")
    return value


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=positive, default=20, help="hidden layers")
    p.add_argument("--width", type=positive, default=256, help="units per hidden layer and input dim")
    p.add_argument("--batch", type=positive, default=128, help="examples per minibatch")
    p.add_argument("--activation", choices=["sigmoid", "relu", "tanh"], default="sigmoid")
    p.add_argument("--norm", choices=["none", "batch"], default="none")
    p.add_argument("--residual", action="store_true", help="residual hidden blocks h + f(z)")
    p.add_argument("--init-std", type=float, default=None,
                   help="Normal(0, std) weights instead of Xavier/He (step_bench's --init normal:STD)")
    p.add_argument("--init", type=normal_init, default=None, dest="init_normal",
                   help="normal:STD, as step_bench spells it (the same as --init-std STD)")
    p.add_argument("--steps", type=positive, default=200, help="timed steps")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    p.add_argument("--batches", type=positive, default=8, help="distinct minibatches cycled through")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--threads", type=positive, default=None,
                   help="torch.set_num_threads (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.init_normal is not None:
        args.init_std = args.init_normal

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    classes = 10

    act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}[args.activation]

    class Block(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.linear = nn.Linear(d_in, d_out)
            self.norm = nn.BatchNorm1d(d_out) if args.norm == "batch" else nn.Identity()
            self.act = act()
            self.skip = args.residual and d_in == d_out

        def forward(self, h):
            a = self.act(self.norm(self.linear(h)))
            return h + a if self.skip else a

    net = nn.Sequential(*[Block(args.width, args.width) for _ in range(args.depth)],
                        nn.Linear(args.width, classes))
    for m in net.modules():
        if isinstance(m, nn.Linear):
            if args.init_std is not None:
                nn.init.normal_(m.weight, std=args.init_std)
            elif args.activation in ("sigmoid", "tanh"):
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    n = args.batch * args.batches
    x = torch.randn(n, args.width)
    teacher = torch.randn(args.width, classes)
    y = (x @ teacher).argmax(dim=1)
    batches = [(x[i * args.batch:(i + 1) * args.batch].contiguous(), y[i * args.batch:(i + 1) * args.batch])
               for i in range(args.batches)]

    def step(i):
        xb, yb = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    first = None
    for i in range(args.warmup):
        loss = step(i)
        if first is None:
            first = loss
    times = []
    start = time.perf_counter()
    for i in range(args.steps):
        t = time.perf_counter()
        last = step(args.warmup + i)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    times.sort()

    macs = sum(a * b for a, b in zip([args.width] * (args.depth + 1), [args.width] * args.depth + [classes]))
    gflop = 3 * 2 * args.batch * macs / 1e9
    print(f"workload: {args.activation} MLP, {args.depth} hidden x {args.width}, input {args.width}, "
          f"batch {args.batch}, {classes} classes, norm {args.norm}, residual {args.residual}, sgd, lr {args.lr}")
    print(f"torch: {torch.__version__}, threads: {torch.get_num_threads()}")
    if first is not None:
        print(f"loss: {first:.4f} (first warm-up step) -> {last:.4f} (last step)")
    print(f"ms/step: {1e3 * total / args.steps:.3f} (median {1e3 * times[len(times) // 2]:.3f}, "
          f"min {1e3 * times[0]:.3f}, max {1e3 * times[-1]:.3f})")
    print(f"gflop/step: {gflop:.3f}")
    print(f"gflop/s: {gflop * args.steps / total:.1f}")
    print(f"steps_per_sec: {args.steps / total:.2f}")


if __name__ == "__main__":
    main()
