"""Exports torchvision's ResNet-50 (random weights: no download; size and graph are what matter) to ONNX.

Usage: /usr/bin/python3 bench/export_resnet50.py OUT.onnx
Used by bench/big-model.mjs when .cache/zoo/resnet50.onnx is absent.
"""
import sys

import torch
import torchvision

out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet50(weights=None).eval()
torch.onnx.export(model, torch.zeros(1, 3, 224, 224), out, opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
print(out)
