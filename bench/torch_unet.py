"""
Optional reference for `npm run bench:sd`: one SD1 UNet step (batch 2 = CFG) in PyTorch on this CPU,
random float32 weights (speed does not depend on them). Written from the SD1 architecture facts in
SD1_SPEC (the same layers diffusers' UNet2DConditionModel runs for SD 1.x, with its default attention on
PyTorch 1.13: baddbmm, softmax, bmm with the heads folded into the batch).

    python3 bench/torch_unet.py [--sizes 32,64] [--reps 3]     (needs python3-torch; prints JSON lines)
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb=1280):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(32, cout, eps=1e-5)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, dim, context_dim=None, heads=8):
        super().__init__()
        context_dim = context_dim or dim
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(context_dim, dim, bias=False)
        self.v = nn.Linear(context_dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def split(self, t):
        b, n, c = t.shape
        return t.reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3).reshape(b * self.heads, n, -1)

    def forward(self, x, context=None):
        context = x if context is None else context
        q, k, v = self.split(self.q(x)), self.split(self.k(context)), self.split(self.v(context))
        empty = torch.empty(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype)
        p = torch.baddbmm(empty, q, k.transpose(-1, -2), beta=0, alpha=self.scale).softmax(dim=-1)
        o = torch.bmm(p, v)
        bh, n, d = o.shape
        b = bh // self.heads
        o = o.reshape(b, self.heads, n, d).permute(0, 2, 1, 3).reshape(b, n, self.heads * d)
        return self.out(o)


class Transformer(nn.Module):
    def __init__(self, c, context_dim=768):
        super().__init__()
        self.norm = nn.GroupNorm(32, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(c), nn.LayerNorm(c), nn.LayerNorm(c)
        self.attn1 = Attention(c)
        self.attn2 = Attention(c, context_dim)
        self.ff_in = nn.Linear(c, 8 * c)
        self.ff_out = nn.Linear(4 * c, c)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, context):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        t = t + self.attn1(self.ln1(t))
        t = t + self.attn2(self.ln2(t), context)
        value, gate = self.ff_in(self.ln3(t)).chunk(2, dim=-1)
        t = t + self.ff_out(value * F.gelu(gate))
        t = t.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return self.proj_out(t) + x


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    def __init__(self, ch=320, mult=(1, 2, 4, 4), attn_levels=(0, 1, 2)):
        super().__init__()
        self.ch = ch
        self.time = nn.Sequential(nn.Linear(ch, 4 * ch), nn.SiLU(), nn.Linear(4 * ch, 4 * ch))
        self.conv_in = nn.Conv2d(4, ch, 3, padding=1)
        self.down = nn.ModuleList()
        skips = [ch]
        c = ch
        for level, m in enumerate(mult):
            for _ in range(2):
                block = nn.ModuleList([ResBlock(c, ch * m)])
                c = ch * m
                if level in attn_levels:
                    block.append(Transformer(c))
                self.down.append(block)
                skips.append(c)
            if level < len(mult) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                skips.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c), Transformer(c), ResBlock(c, c)])
        self.up = nn.ModuleList()
        for level, m in reversed(list(enumerate(mult))):
            for i in range(3):
                block = nn.ModuleList([ResBlock(c + skips.pop(), ch * m)])
                c = ch * m
                if level in attn_levels:
                    block.append(Transformer(c))
                if level > 0 and i == 2:
                    block.append(Upsample(c))
                self.up.append(block)
        self.norm_out = nn.GroupNorm(32, c, eps=1e-5)
        self.conv_out = nn.Conv2d(c, 4, 3, padding=1)

    def embed(self, t):
        half = self.ch // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        return self.time(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))

    def run(self, block, x, emb, context):
        for layer in block:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, Transformer):
                x = layer(x, context)
            else:
                x = layer(x)
        return x

    def forward(self, x, t, context):
        emb = self.embed(t)
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            h = self.run(block, h, emb, context)
            hs.append(h)
        h = self.run(self.mid, h, emb, context)
        for block in self.up:
            h = self.run(block, torch.cat([h, hs.pop()], dim=1), emb, context)
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="32,64")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    model = UNet().eval()
    params = sum(p.numel() for p in model.parameters())
    for size in [int(s) for s in args.sizes.split(",")]:
        x = torch.randn(2, 4, size, size)
        t = torch.tensor([500.0, 500.0])
        ctx = torch.randn(2, 77, 768) * 0.1
        times = []
        with torch.inference_mode():
            first = time.perf_counter()
            model(x, t, ctx)
            first = time.perf_counter() - first
            for _ in range(args.reps):
                s = time.perf_counter()
                model(x, t, ctx)
                times.append(time.perf_counter() - s)
        print(json.dumps({
            "torch": torch.__version__,
            "threads": torch.get_num_threads(), "params": params, "size": size,
            "first_ms": first * 1000, "ms": statistics.median(times) * 1000,
        }), flush=True)


if __name__ == "__main__":
    main()
