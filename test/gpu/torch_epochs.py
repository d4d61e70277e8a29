"""test/gpu/torch_epochs.py - the timed training loop shared by the PyTorch
peers of test/gpu (imdb_torch.py, charrnn_torch.py): batches in order, no
shuffle, warm-up steps first, the loss read back only at each epoch's end
(which synchronises), the best epoch reported as

    RESULT <name> torch epoch_s=<best epoch seconds> steps=<n> loss=<last>
"""
import time

import torch


def run_epochs(name, model, opt, lossf, x, y, batch, epochs, warmup, dev):
    n = x.shape[0]

    def step(s, bsz):
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x[s:s + bsz]), y[s:s + bsz])
        loss.backward()
        opt.step()
        return loss

    for w in range(warmup):
        loss = step((w * batch) % max(1, n - batch), min(batch, n))
    loss.item()
    best, steps = float("inf"), 0
    for epoch in range(epochs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        steps = 0
        for s in range(0, n, batch):
            loss = step(s, min(batch, n - s))
            steps += 1
        last = loss.item()  # synchronises
        dt = time.perf_counter() - t0
        best = min(best, dt)
        print(f"epoch {epoch + 1}: {dt:.3f}s ({steps} steps, {dt * 1000 / steps:.2f} ms/step), loss {last:.4f}")
    print(f"RESULT {name} torch epoch_s={best:.4f} steps={steps} loss={loss.item():.5f}")
