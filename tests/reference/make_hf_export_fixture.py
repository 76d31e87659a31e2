#!/usr/bin/env python3
"""Loads a checkpoint written by a generated training program into
transformers' MambaForCausalLM (from_pretrained on the folder: our
model.safetensors with Hugging Face names + config.json) and records its
logits for the tokens the harness saved beside it.

  build/tests/harness_fixture_f32 export tests/fixtures/reference/hf_export
  python3 tests/reference/make_hf_export_fixture.py tests/fixtures/reference/hf_export

writes tests/fixtures/reference/hf_export/logits.safetensors (input_ids,
logits), which tests/check_model.c compares with our own logits.
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import MambaForCausalLM

d = sys.argv[1]
model = MambaForCausalLM.from_pretrained(os.path.join(d, "export"), torch_dtype=torch.float32).eval()
tok = load_file(os.path.join(d, "tokens.safetensors"))["input_ids"].to(torch.long)
with torch.no_grad():
    logits = model(input_ids=tok).logits.float().contiguous()
save_file({"input_ids": tok.float().contiguous(), "logits": logits},
          os.path.join(d, "logits.safetensors"),
          metadata={"transformers": __import__("transformers").__version__, "torch": torch.__version__})
print("hf_export: logits", tuple(logits.shape), "mean", logits.mean().item())
