"""test/gpu/imdb_torch.py - the PyTorch peer of test/gpu/imdb_bench.lua.

Same model, data shapes and loop: Embedding(5000,32) -> LSTM(100) ->
Linear(1) with the sigmoid fused into BCEWithLogitsLoss, Adam (lr 1e-3,
eps 1e-7 as Keras), batch 64, maxlen 500, synthetic ids held on the GPU,
batches taken in order (no shuffle, like the seqlua script), the loss read
back only at the end of the epoch.  TF32 is off, as in seqlua's default.

    python3 test/gpu/imdb_torch.py [--epochs N] [--limit SAMPLES] [--device cuda]
Prints "RESULT imdb torch epoch_s=<best epoch seconds> steps=<n> loss=<last>".
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_epochs import run_epochs  # noqa: E402


class Model(nn.Module):
    def __init__(self, vocab=5000, emb=32, units=100):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, units, batch_first=True)
        self.dense = nn.Linear(units, 1)

    def forward(self, ids):
        _, (h, _) = self.lstm(self.emb(ids))
        return self.dense(h[-1]).squeeze(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=25000)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    dev = torch.device(a.device)
    torch.manual_seed(1)
    N, T, V, B = a.limit, 500, 5000, 64
    x = torch.randint(1, V, (N, T), device=dev)
    y = (torch.rand(N, device=dev) > 0.5).float()
    model = Model().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    lossf = nn.BCEWithLogitsLoss()

    run_epochs("imdb", model, opt, lossf, x, y, B, a.epochs, a.warmup, dev)


if __name__ == "__main__":
    main()
