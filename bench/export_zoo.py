#!/usr/bin/env python3
"""Exports torchvision classifiers with random weights (seed 0) to ONNX for bench/finetune-step.mjs.

Usage: /usr/bin/python3 bench/export_zoo.py OUT_DIR [resnet18] [mobilenet_v2]
Writes OUT_DIR/<name>.onnx (opset 13, eval mode, so BatchNorm is folded into the convolutions, as users'
exports are), skipping files that exist. Pretrained weights cannot be downloaded here; speed does not
depend on the weights' values.
"""
import os
import sys

import torch
import torchvision


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or ["resnet18", "mobilenet_v2"]
    os.makedirs(out, exist_ok=True)
    for name in names:
        path = os.path.join(out, f"{name}.onnx")
        if os.path.exists(path):
            continue
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)().eval()
        x = torch.randn(1, 3, 224, 224)
        tmp = path + ".tmp"
        torch.onnx.export(model, x, tmp, opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
        os.replace(tmp, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
