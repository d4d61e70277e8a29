"""test/gpu/charrnn_torch.py - the PyTorch peer of test/gpu/charrnn_bench.lua.

Synthetic text of the Nietzsche corpus's size (600893 chars, 57 symbols),
40-char windows with step 3, one-hot input (as Keras feeds it) ->
LSTM(128) -> Linear(57) with the softmax fused into CrossEntropyLoss,
RMSprop (lr 0.01, rho 0.9, eps 1e-7 as Keras), batch 128, batches in order,
the loss read back only at the end of the epoch.  TF32 off.

    python3 test/gpu/charrnn_torch.py [--epochs N] [--max-chars N] [--device cuda]
Prints "RESULT charrnn torch epoch_s=<best epoch seconds> steps=<n> loss=<last>".
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_epochs import run_epochs  # noqa: E402


class Model(nn.Module):
    def __init__(self, vocab=57, units=128):
        super().__init__()
        self.vocab = vocab
        self.lstm = nn.LSTM(vocab, units, batch_first=True)
        self.dense = nn.Linear(units, vocab)

    def forward(self, ids):
        x = F.one_hot(ids, self.vocab).float()
        _, (h, _) = self.lstm(x)
        return self.dense(h[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-chars", type=int, default=600893)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(a.device)
    torch.manual_seed(2)
    L, W, STEP, V, B = a.max_chars, 40, 3, 57, 128
    text = torch.randint(0, V, (L,), device=dev)
    N = (L - W) // STEP
    starts = torch.arange(N, device=dev) * STEP
    x = text[starts[:, None] + torch.arange(W, device=dev)[None, :]]
    y = text[starts + W]
    model = Model().to(dev)
    opt = torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.9, eps=1e-7)
    lossf = nn.CrossEntropyLoss()

    run_epochs("charrnn", model, opt, lossf, x, y, B, a.epochs, a.warmup, dev)


if __name__ == "__main__":
    main()
