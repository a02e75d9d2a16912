#!/usr/bin/env python3
"""PyTorch reference of one PG fine-tuning step, for bench/finetune-step.mjs.

The same network as fixtures/models/resnet-fmnist.onnx (stem conv, three BasicBlocks 16/32/64, BN folded
into conv biases, global average pool, linear), the same PG placement as `pg convert` (each block's first
conv gated, second conv and shortcut convs quantized statically, stem and classifier float), the same
quantizer (static learnable scale, 4/2 bits, 8-bit weights, straight-through estimators) and the same
gate (hard step forward, sigmoid-surrogate backward, alpha 5). Both phases are computed densely, as the
method's reference does; the low-bit phase computes no input gradient (the straight-through estimators make it
zero), which is also what pg's fused gated conv skips. Weights and thresholds are trained with Adam, like `pg finetune --train-weights`.
With --model vit: fixtures/transformers.py's ViT (random weights, batch of 28x28 images) as pg converts it (each
block's first feed-forward layer gated per output feature, the other token linear layers quantized statically,
the patch conv and the head float), its linear layers on tokens computed as 1x1 convolutions (oneDNN), which
Debian's torch runs several times faster than nn.Linear on its reference BLAS (--linear blas measures that).
With --model resnet18 or mobilenet_v2: the torchvision model (random weights) at 224x224, BatchNorm folded
into the convolutions (torch.fx), layers placed by the same rules as `pg convert` (a conv whose output goes
into a ReLU/ReLU6 is gated; the first conv and the classifier stay float; depthwise and other convs are
quantized statically), 1000 classes.
Prints one JSON line: {"step_ms_median": ..., "cpu_ms_median": ... (the process's CPU time, every thread), "steps": ..., "batch": ...} (with --profile, the profiler's table before it).
Run with Debian's python3-torch: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/pytorch_pg_step.py
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class StraightThrough(torch.autograd.Function):
    """`fn(x)` forward (torch.round or torch.trunc), the identity backward: a straight-through estimator."""

    @staticmethod
    def forward(ctx, x, fn):
        return fn(x)

    @staticmethod
    def backward(ctx, g):
        return g, None


class Gate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, alpha):
        ctx.save_for_backward(z)
        ctx.alpha = alpha
        return (z > 0).float()

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        s = torch.sigmoid(ctx.alpha * z)
        return g * ctx.alpha * s * (1 - s), None


def quant_weights(w, wbits):
    n = 2 ** wbits - 1
    s = w.detach().abs().max().clamp_min(1e-12)
    wq = torch.round(w.detach() / s * n) / n * s
    return w + (wq - w).detach()


def codes(x, s, bits):
    n = 2 ** bits - 1
    return StraightThrough.apply(torch.clamp(x / s, -1, 1) * n, torch.round), s / n


class QConv(nn.Module):
    """A conv quantized statically (for a torchvision model: a BN-folded one), with the conv's geometry."""

    def __init__(self, conv, bits=4, wbits=8):
        super().__init__()
        self.conv = conv
        self.scale = nn.Parameter(torch.tensor(3.0))
        self.bits, self.wbits = bits, wbits

    def linear(self, x, w, bias):
        c = self.conv
        return F.conv2d(x, w, bias, c.stride, c.padding, c.dilation, c.groups)

    def forward(self, x):
        q, unit = codes(x, self.scale, self.bits)
        return self.linear(q * unit, quant_weights(self.conv.weight, self.wbits), self.conv.bias)


class PGConv(QConv):
    """A gated conv: the high-bit part always, the low-bit part where the gate opens."""

    def __init__(self, conv, bits=4, hbits=2, wbits=8):
        super().__init__(conv, bits, wbits)
        self.hbits = hbits
        self.threshold = nn.Parameter(torch.zeros(conv.out_channels))

    def forward(self, x):
        q, unit = codes(x, self.scale, self.bits)
        step = 2 ** (self.bits - self.hbits)
        qhb = StraightThrough.apply(q / step, torch.trunc) * step
        w = quant_weights(self.conv.weight, self.wbits)
        ohb = self.linear(qhb * unit, w, self.conv.bias)
        # The straight-through estimators give q and qhb the same gradient, so the low-bit codes q - qhb carry
        # none: detached, autograd skips the low-bit conv's input gradient (zero anyway), as pg's fused conv
        # does. The scale's gradient through this branch stays: olb = unit * conv(q - qhb).
        olb = self.linear((q - qhb).detach(), w, None) * unit
        m = Gate.apply(ohb - self.threshold.view(1, -1, 1, 1), 5.0)
        self.fraction = m.mean()
        return ohb + m * olb


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = PGConv(nn.Conv2d(cin, cout, 3, stride, 1))
        self.conv2 = QConv(nn.Conv2d(cout, cout, 3, 1, 1))
        self.down = QConv(nn.Conv2d(cin, cout, 1, stride, 0)) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + (self.down(x) if self.down else x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, 1, 1)
        self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def placement(node, conv, modules):
    """pg convert's rules on the traced graph: 'float', 'gate' or 'quantize'."""
    if node.args[0].op == "placeholder":
        return "float"
    if conv.groups > 1 and conv.weight.shape[1] == 1:
        return "quantize"
    users = list(node.users)
    if len(users) == 1:
        u = users[0]
        relu_module = u.op == "call_module" and isinstance(modules[u.target], (nn.ReLU, nn.ReLU6))
        relu_function = u.op == "call_function" and u.target in (F.relu, torch.relu, F.relu6)
        if relu_module or relu_function:
            return "gate"
    return "quantize"


class QLinear(nn.Module):
    """A token linear layer (transformers.ConvLinear, or nn.Linear with --linear blas) quantized statically."""

    def __init__(self, linear, blas, bits=4, wbits=8):
        super().__init__()
        self.linear_module = linear
        self.blas = blas
        self.scale = nn.Parameter(torch.tensor(3.0))
        self.bits, self.wbits = bits, wbits

    def linear(self, x, w, bias):
        if self.blas:
            return F.linear(x, w, bias)
        lead = x.shape[:-1]
        return F.conv2d(x.reshape(-1, x.shape[-1], 1, 1), w[:, :, None, None], bias).reshape(*lead, w.shape[0])

    def forward(self, x):
        q, unit = codes(x, self.scale, self.bits)
        return self.linear(q * unit, quant_weights(self.linear_module.weight, self.wbits), self.linear_module.bias)


class PGLinear(QLinear):
    """A gated token linear layer: thresholds per output feature (the last axis)."""

    def __init__(self, linear, blas, bits=4, hbits=2, wbits=8):
        super().__init__(linear, blas, bits, wbits)
        self.hbits = hbits
        self.threshold = nn.Parameter(torch.zeros(linear.out_features))

    def forward(self, x):
        q, unit = codes(x, self.scale, self.bits)
        step = 2 ** (self.bits - self.hbits)
        qhb = StraightThrough.apply(q / step, torch.trunc) * step
        w = quant_weights(self.linear_module.weight, self.wbits)
        ohb = self.linear(qhb * unit, w, self.linear_module.bias)
        olb = self.linear((q - qhb).detach(), w, None) * unit
        m = Gate.apply(ohb - self.threshold, 5.0)
        self.fraction = m.mean()
        return ohb + m * olb


def vit_model(blas):
    """fixtures/transformers.py's ViT as pg convert places it: each block's fc1 (before GELU) gated, qkv, the
    attention's output projection and fc2 quantized statically, the patch conv and the head float."""
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
    from transformers import ViT

    net = ViT(fast=not blas)
    for block in net.blocks:
        block.attn.qkv = QLinear(block.attn.qkv, blas)
        block.attn.proj = QLinear(block.attn.proj, blas)
        block.mlp.fc1 = PGLinear(block.mlp.fc1, blas)
        block.mlp.fc2 = QLinear(block.mlp.fc2, blas)
    return net


def zoo_model(name):
    import torchvision
    from torch.fx.experimental.optimization import fuse

    gm = fuse(getattr(torchvision.models, name)().eval())
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.Conv2d):
            continue
        conv = modules[node.target]
        role = placement(node, conv, modules)
        if role == "float":
            continue
        parent, _, attr = node.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, attr, PGConv(conv) if role == "gate" else QConv(conv))
    gm.recompile()
    return gm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="bundled", choices=["bundled", "resnet18", "mobilenet_v2", "vit"])
    ap.add_argument("--linear", default="onednn", choices=["onednn", "blas"],
                    help="vit: token linear layers as 1x1 convolutions (oneDNN, the faster here) or nn.Linear (BLAS)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", type=int, default=0, metavar="ROWS",
                    help="time the steps under torch.autograd.profiler and print its ROWS ops with the most self CPU time")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.model == "bundled":
        net = Net()
        x = torch.randn(args.batch, 1, 28, 28)
        y = torch.randint(0, 10, (args.batch,))
    elif args.model == "vit":
        net = vit_model(args.linear == "blas")
        x = torch.randn(args.batch, 1, 28, 28)
        y = torch.randint(0, 10, (args.batch,))
    else:
        net = zoo_model(args.model)
        x = torch.randn(args.batch, 3, 224, 224)
        y = torch.randint(0, 1000, (args.batch,))
    gates = [m for m in net.modules() if isinstance(m, (PGConv, PGLinear))]
    thr = [g.threshold for g in gates] + [m.scale for m in net.modules() if isinstance(m, (QConv, QLinear))]
    weights = [p for n, p in net.named_parameters() if not (n.endswith("threshold") or n.endswith("scale"))]
    opt_g = torch.optim.Adam(thr, lr=1e-3)
    opt_w = torch.optim.Adam(weights, lr=1e-4)
    times = []
    cpu = []
    profiler = torch.autograd.profiler.profile() if args.profile else None
    for i in range(args.steps + args.warmup):
        if profiler and i == args.warmup:
            profiler.__enter__()
        t0 = time.perf_counter()
        c0 = time.process_time()
        loss = F.cross_entropy(net(x), y)
        loss = loss + 1e-3 * sum(torch.norm(g.threshold) for g in gates)
        loss = loss + sum(torch.relu(g.fraction - 0.15) ** 2 for g in gates)
        opt_g.zero_grad()
        opt_w.zero_grad()
        loss.backward()
        opt_g.step()
        opt_w.step()
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    if profiler:
        profiler.__exit__(None, None, None)
        # Per step: the table's totals cover every timed step.
        print(f"# torch.autograd.profiler over {args.steps} steps (totals; divide by {args.steps} for a step)")
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile))
    print(json.dumps({"model": args.model, "linear": args.linear if args.model == "vit" else None, "gated": len(gates), "step_ms_median": statistics.median(times), "cpu_ms_median": statistics.median(cpu), "steps": args.steps, "batch": args.batch, "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
