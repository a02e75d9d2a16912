#!/usr/bin/env python3
"""PyTorch reference of one float training step of pg's recurrent fixtures' networks, for bench/recurrent-step.mjs.

Networks (seeded random weights; the same architectures as fixtures/make_recurrent.py trains):
  row-lstm  an nn.LSTM(28, 64) reading a 28x28 image as 28 steps of 28 pixels, its last hidden state into a
            Linear(64, 10); input [N, 28, 28], cross-entropy on the class.
  char-lm   Embedding(V, 64), nn.LSTM(64, 128), Linear(128, V) at every step; input token ids [N, T],
            cross-entropy of the next token at every step.
The step: forward, loss, backward through time, Adam on every weight (lr 1e-3).
With --export PATH the network is also written as ONNX (opset 14, as the fixtures are) for pg to time the same
step on. Prints one JSON line: {"step_ms_median": ..., "steps": ..., "batch": ...}.
Run with Debian's python3-torch: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/pytorch_recurrent_step.py
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 63
SEQ = 64


class RowLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 64, batch_first=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.fc(h[-1])


class CharLm(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 64)
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.fc = nn.Linear(128, VOCAB)

    def forward(self, tokens):
        y, _ = self.lstm(self.embed(tokens))
        return self.fc(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="row-lstm", choices=["row-lstm", "char-lm"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", help="also write the network as ONNX here")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.model == "row-lstm":
        net = RowLstm()
        x = torch.randn(args.batch, 28, 28)
        y = torch.randint(0, 10, (args.batch,))
        loss_of = lambda out: F.cross_entropy(out, y)
    else:
        net = CharLm()
        x = torch.randint(0, VOCAB, (args.batch, SEQ))
        y = torch.randint(0, VOCAB, (args.batch, SEQ))
        loss_of = lambda out: F.cross_entropy(out.reshape(-1, VOCAB), y.reshape(-1))
    if args.export:
        names = {"input_names": ["input"], "output_names": ["logits"], "dynamic_axes": {"input": {0: "N"}, "logits": {0: "N"}}}
        torch.onnx.export(net.eval(), (x[:1],), args.export, opset_version=14, do_constant_folding=True, **names)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times = []
    for i in range(args.steps + args.warmup):
        t0 = time.perf_counter()
        loss = loss_of(net(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1000)
    if not times:
        return
    print(json.dumps({"model": args.model, "step_ms_median": statistics.median(times), "steps": args.steps, "batch": args.batch, "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
