#!/usr/bin/env python3
"""Reference fixtures from an independent implementation (PyTorch + transformers).

Writes, under tests/fixtures/reference/:
  mamba_tiny.safetensors  a tiny MambaForCausalLM: its weights (HF names),
                          input_ids, targets, mask, and from transformers'
                          pure-PyTorch path: logits, the masked mean loss and
                          the gradient of every parameter ("grad." + name)
  optim.safetensors       torch.optim.Muon (both lr adjustments, torch's bf16
                          Newton-Schulz and the same code in fp32) and
                          torch.optim.AdamW: two steps each on given tensors

The matching spec is tests/specs/good/fixture.yaml (d_model 24, n_layer 2,
vocab 60 -> 64, d_state 4, d_conv 4, expand 2, dt_rank 2, seq_len 12,
micro_batch 2). Run on a host with torch and transformers (no GPU needed):
  python3 tests/reference/make_model_fixtures.py
"""
import inspect
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import MambaConfig, MambaForCausalLM

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "reference")
torch.manual_seed(1234)
torch.set_default_dtype(torch.float32)


def model_fixture():
    D, L, V, N, K, EXP, R, B, T = 24, 2, 64, 4, 4, 2, 2, 2, 12
    E = EXP * D
    cfg = MambaConfig(vocab_size=V, hidden_size=D, state_size=N, num_hidden_layers=L, expand=EXP,
                      conv_kernel=K, time_step_rank=R, use_bias=False, use_conv_bias=True,
                      layer_norm_epsilon=1e-5, residual_in_fp32=True, tie_word_embeddings=True,
                      use_mambapy=False)
    model = MambaForCausalLM(cfg).float().eval()  # eval: no dropout exists anyway
    g = torch.Generator().manual_seed(7)

    def rnd(*shape, scale=1.0, shift=0.0):
        return (torch.rand(*shape, generator=g) * 2 - 1) * scale + shift

    # Given weights (not anyone's init): moderate values so that every path
    # carries gradient and nothing saturates.
    sd = {}
    sd["backbone.embeddings.weight"] = rnd(V, D, scale=0.5)
    for i in range(L):
        p = f"backbone.layers.{i}."
        sd[p + "norm.weight"] = rnd(D, scale=0.3, shift=1.0)
        sd[p + "mixer.in_proj.weight"] = rnd(2 * E, D, scale=D ** -0.5)
        sd[p + "mixer.conv1d.weight"] = rnd(E, 1, K, scale=0.5)
        sd[p + "mixer.conv1d.bias"] = rnd(E, scale=0.3)
        sd[p + "mixer.x_proj.weight"] = rnd(R + 2 * N, E, scale=E ** -0.5)
        sd[p + "mixer.dt_proj.weight"] = rnd(E, R, scale=R ** -0.5)
        sd[p + "mixer.dt_proj.bias"] = rnd(E, scale=1.0, shift=-3.0)
        sd[p + "mixer.A_log"] = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1) + rnd(E, N, scale=0.3)
        sd[p + "mixer.D"] = rnd(E, scale=0.5, shift=1.0)
        sd[p + "mixer.out_proj.weight"] = rnd(D, E, scale=E ** -0.5)
    sd["backbone.norm_f.weight"] = rnd(D, scale=0.3, shift=1.0)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    assert all(k == "lm_head.weight" for k in missing), missing
    assert model.lm_head.weight.data_ptr() == model.backbone.embeddings.weight.data_ptr(), "head not tied"

    stream = torch.randint(0, 60, (B, T + 1), generator=g)  # real vocab 60 (padded to 64)
    input_ids, targets = stream[:, :T].contiguous(), stream[:, 1:].contiguous()
    mask = torch.ones(B, T)
    mask[0, :3] = 0  # as a prompt would be
    mask[1, 7] = 0
    out = model(input_ids=input_ids)
    logits = out.logits.float()  # (B, T, V)
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
    loss = (nll * mask.reshape(-1)).sum() / mask.sum()
    loss.backward()

    t = {k: v.contiguous() for k, v in sd.items()}
    t["input_ids"] = input_ids.to(torch.int32)
    t["targets"] = targets.to(torch.int32)
    t["mask"] = mask
    t["logits"] = logits.detach().contiguous()
    t["loss"] = loss.detach().reshape(1)
    named = dict(model.named_parameters())
    for k in sd:
        t["grad." + k] = named[k].grad.detach().contiguous()
    meta = {"transformers": __import__("transformers").__version__, "torch": torch.__version__,
            "config": json.dumps(cfg.to_dict(), sort_keys=True, default=str)[:4000]}
    save_file(t, os.path.join(OUT, "mamba_tiny.safetensors"), metadata=meta)
    print("mamba_tiny: loss", loss.item())


def muon_ns_fp32():
    """torch's own Newton-Schulz source with the bf16 cast turned into fp32."""
    import torch.optim._muon as muon_mod
    src = inspect.getsource(muon_mod._zeropower_via_newtonschulz)
    assert ".bfloat16()" in src, "torch's Newton-Schulz no longer casts to bf16; update this script"
    src = src.replace(".bfloat16()", ".float()")
    ns = {}
    exec(compile(src, "<ns_fp32>", "exec"), muon_mod.__dict__, ns)
    return muon_mod, ns["_zeropower_via_newtonschulz"]


def optim_fixture():
    g = torch.Generator().manual_seed(11)
    t = {}
    shapes = {"wide": (12, 20), "tall": (20, 12)}
    muon_mod, ns32 = muon_ns_fp32()
    ns_bf16 = muon_mod._zeropower_via_newtonschulz
    for name, shape in shapes.items():
        p0 = torch.randn(*shape, generator=g) * 0.1
        g1 = torch.randn(*shape, generator=g)
        g2 = torch.randn(*shape, generator=g)
        t[f"muon.{name}.p0"], t[f"muon.{name}.g1"], t[f"muon.{name}.g2"] = p0, g1, g2
        for adj in ("original", "match_rms_adamw"):
            for prec, fn in (("bf16", ns_bf16), ("fp32", ns32)):
                muon_mod._zeropower_via_newtonschulz = fn
                p = torch.nn.Parameter(p0.clone())
                opt = torch.optim.Muon([p], lr=0.02, weight_decay=0.1, momentum=0.95, nesterov=True,
                                       ns_steps=5, adjust_lr_fn=adj)
                for k, gk in enumerate((g1, g2), 1):
                    p.grad = gk.clone()
                    opt.step()
                    t[f"muon.{name}.{adj}.{prec}.p{k}"] = p.detach().clone()
                muon_mod._zeropower_via_newtonschulz = ns_bf16
    p0 = torch.randn(50, generator=g) * 0.1
    g1, g2 = torch.randn(50, generator=g), torch.randn(50, generator=g)
    t["adamw.p0"], t["adamw.g1"], t["adamw.g2"] = p0, g1, g2
    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    for k, gk in enumerate((g1, g2), 1):
        p.grad = gk.clone()
        opt.step()
        t[f"adamw.p{k}"] = p.detach().clone()
    t = {k: v.contiguous() for k, v in t.items()}
    save_file(t, os.path.join(OUT, "optim.safetensors"),
              metadata={"torch": torch.__version__, "muon": "lr 0.02 wd 0.1 momentum 0.95 nesterov ns_steps 5",
                        "adamw": "lr 1e-2 betas 0.9,0.95 eps 1e-8 wd 0.1"})
    print("optim: ok")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    model_fixture()
    optim_fixture()
    sys.exit(0)
