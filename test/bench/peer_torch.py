#!/usr/bin/python3
"""PyTorch CPU peer for test/bench/run: the course's models with the same
shapes, batch sizes, optimizers and thread count as the seqlua side.

    PYTHON test/bench/peer_torch.py WORKLOAD [--threads N] [--quick]
        [--batches N] [--repeats R]

PYTHON: a venv with PyPI's torch (test/bench/run's default peer:
/tmp/torch-venv/bin/python, made by python3 -m venv /tmp/torch-venv &&
/tmp/torch-venv/bin/pip install torch numpy), or Debian's /usr/bin/python3.

WORKLOAD: micro_torch micro_numpy imdb_epoch imdb_infer char_epoch
          gen_window gen_stateful markov sgemm_peak
Prints one `RESULT {json}` line (see bench_common.py).  Data are synthetic
random arrays of the right shapes (timing does not depend on the values);
markov reads the real Nietzsche text ($SEQLUA_DATA or ../shared/data)."""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class ImdbNet(nn.Module):
    """Embedding(5000,32) -> LSTM(100) -> Dense(1, sigmoid) (logit out; the
    sigmoid is fused into the loss as BCEWithLogits)."""

    def __init__(self, c):
        super().__init__()
        self.emb = nn.Embedding(c["vocab"], c["embed"])
        self.lstm = nn.LSTM(c["embed"], c["units"], batch_first=True)
        self.dense = nn.Linear(c["units"], 1)

    def forward(self, x):
        _, (h, _) = self.lstm(self.emb(x))
        return self.dense(h[-1]).squeeze(1)


class CharNet(nn.Module):
    """LSTM(128) over one-hot chars -> Dense(57) (softmax fused into the loss)."""

    def __init__(self, c):
        super().__init__()
        self.lstm = nn.LSTM(c["nchars"], c["units"], batch_first=True)
        self.dense = nn.Linear(c["units"], c["nchars"])

    def forward(self, x, state=None):
        y, state = self.lstm(x, state)
        return self.dense(y[:, -1]), state


def timed_epoch(step, nbatches_epoch, args, default_quick_batches):
    """Run `step(i)` for batch i; quick: time args.batches batches per sample
    and extrapolate to the epoch; full: time whole epochs."""
    for i in range(2):  # warm-up
        step(i)
    samples = []
    if args.quick:
        nb = args.batches or default_quick_batches
        for _ in range(args.repeats):
            t0 = bc.now()
            for i in range(nb):
                step(i)
            samples.append((bc.now() - t0) / nb * nbatches_epoch)
        return statistics.median(samples), samples, nb
    for _ in range(args.repeats):
        t0 = bc.now()
        for i in range(nbatches_epoch):
            step(i)
        samples.append(bc.now() - t0)
    return statistics.median(samples), samples, nbatches_epoch


def imdb_data(c, n):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, c["vocab"], (n, c["maxlen"]), generator=g)  # int64, as torch needs
    y = torch.randint(0, 2, (n,), generator=g).float()
    return x, y


def w_imdb_epoch(args):
    c = bc.IMDB
    x, y = imdb_data(c, c["n"])
    model = ImdbNet(c)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    B = c["batch"]
    nb = bc.batches_per_epoch(c["n"], B)
    perm = torch.randperm(c["n"])

    def step(i):
        i %= nb
        idx = perm[i * B:(i + 1) * B]
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x[idx]), y[idx])
        loss.backward()
        opt.step()

    med, samples, used = timed_epoch(step, nb, args, 10)
    bc.emit("imdb_epoch", "torch", med, samples, extrapolated=args.quick, batches_timed=used,
            batches_per_epoch=nb)


def w_imdb_infer(args):
    c = bc.IMDB
    x, _ = imdb_data(c, c["n"])
    model = ImdbNet(c).eval()
    B = bc.INFER_BATCH
    nb = bc.batches_per_epoch(c["n"], B)

    def step(i):
        i %= nb
        with torch.no_grad():
            torch.sigmoid(model(x[i * B:(i + 1) * B]))

    med, samples, used = timed_epoch(step, nb, args, 10)
    bc.emit("imdb_infer", "torch", med, samples, extrapolated=args.quick, batches_timed=used,
            batch_size=B)


def w_char_epoch(args):
    c = bc.CHAR
    g = torch.Generator().manual_seed(1)
    # ids kept as int64 and one-hot encoded per batch (cheaper in memory than
    # the tutorial's [N,40,57] bool array, so a stronger peer)
    xid = torch.randint(0, c["nchars"], (c["n"], c["maxlen"]), generator=g)
    y = torch.randint(0, c["nchars"], (c["n"],), generator=g)
    model = CharNet(c)
    opt = torch.optim.RMSprop(model.parameters(), lr=c["lr"], alpha=0.9, eps=1e-7)
    B = c["batch"]
    nb = bc.batches_per_epoch(c["n"], B)
    perm = torch.randperm(c["n"])

    def step(i):
        i %= nb
        idx = perm[i * B:(i + 1) * B]
        xb = F.one_hot(xid[idx], c["nchars"]).float()
        opt.zero_grad()
        logits, _ = model(xb)
        F.cross_entropy(logits, y[idx]).backward()
        opt.step()

    med, samples, used = timed_epoch(step, nb, args, 40)
    bc.emit("char_epoch", "torch", med, samples, extrapolated=args.quick, batches_timed=used,
            batches_per_epoch=nb)


def sample(preds, temperature, rng):
    """The tutorial's sampling helper."""
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds + 1e-12) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    return int(np.argmax(rng.multinomial(1, preds, 1)))


def w_gen(args, stateful):
    c = bc.CHAR
    model = CharNet(c).eval()
    rng = np.random.default_rng(1)
    seed_ids = list(rng.integers(0, c["nchars"], c["maxlen"]))

    def window():
        ids = list(seed_ids)
        with torch.no_grad():
            for _ in range(bc.GEN_CHARS):
                x = F.one_hot(torch.tensor([ids[-c["maxlen"]:]]), c["nchars"]).float()
                logits, _ = model(x)
                nxt = sample(torch.softmax(logits[0], 0).numpy(), 0.5, rng)
                ids.append(nxt)

    def step_state():
        with torch.no_grad():
            x = F.one_hot(torch.tensor([seed_ids]), c["nchars"]).float()
            logits, state = model(x)
            for _ in range(bc.GEN_CHARS):
                nxt = sample(torch.softmax(logits[0], 0).numpy(), 0.5, rng)
                x = F.one_hot(torch.tensor([[nxt]]), c["nchars"]).float()
                logits, state = model(x, state)

    fn = step_state if stateful else window
    med, samples = bc.median_time(fn, repeats=args.repeats, min_time=0.0)
    bc.emit("gen_stateful" if stateful else "gen_window", "torch", med, samples,
            chars=bc.GEN_CHARS)


def w_markov(args):
    text = bc.read_nietzsche().lower()
    chars = sorted(set(text))
    V = len(chars)

    def count():
        lut = {ch: i for i, ch in enumerate(chars)}
        ids = torch.tensor([lut[ch] for ch in text], dtype=torch.int64)
        counts = torch.bincount(ids[:-1] * V + ids[1:], minlength=V * V).reshape(V, V)
        probs = counts.double() / counts.sum(1, keepdim=True).clamp(min=1)
        return counts, probs

    counts, probs = count()
    a, b, n = chars.index("a"), chars.index("b"), chars.index("n")
    assert int(counts[a, b]) == 813 and float(probs[a, n]) == 0.2322806826829003, "markov check"
    med, samples = bc.median_time(count, repeats=args.repeats, min_time=0.0)
    bc.emit("markov", "torch", med, samples, vocab=V, note="includes char->id mapping")


def w_micro(args, lib):
    items = {}
    if lib == "torch":
        for M, K, N in bc.MICRO_MATMUL:
            a, b = torch.randn(M, K), torch.randn(K, N)
            items["matmul %dx%dx%d" % (M, K, N)] = bc.median_time(lambda: torch.matmul(a, b),
                                                                  args.repeats)[0]
        for shp in bc.MICRO_ELTWISE:
            a, b = torch.randn(*shp), torch.randn(*shp)
            tag = "%dx%d" % shp
            items["add " + tag] = bc.median_time(lambda: a + b, args.repeats)[0]
            items["tanh " + tag] = bc.median_time(lambda: torch.tanh(a), args.repeats)[0]
            items["sigmoid " + tag] = bc.median_time(lambda: torch.sigmoid(a), args.repeats)[0]
            items["sum " + tag] = bc.median_time(lambda: a.sum(), args.repeats)[0]
    else:
        rng = np.random.default_rng(1)
        for M, K, N in bc.MICRO_MATMUL:
            a = rng.standard_normal((M, K), dtype=np.float32)
            b = rng.standard_normal((K, N), dtype=np.float32)
            items["matmul %dx%dx%d" % (M, K, N)] = bc.median_time(lambda: a @ b, args.repeats)[0]
        for shp in bc.MICRO_ELTWISE:
            a = rng.standard_normal(shp, dtype=np.float32)
            b = rng.standard_normal(shp, dtype=np.float32)
            tag = "%dx%d" % shp
            items["add " + tag] = bc.median_time(lambda: a + b, args.repeats)[0]
            items["tanh " + tag] = bc.median_time(lambda: np.tanh(a), args.repeats)[0]
            items["sigmoid " + tag] = bc.median_time(lambda: 1 / (1 + np.exp(-a)),
                                                     args.repeats)[0]
            items["sum " + tag] = bc.median_time(lambda: a.sum(), args.repeats)[0]
    bc.emit("micro", lib, sum(items.values()), items=items)


def w_sgemm_peak(args):
    """The machine's practical f32 GEMM peak at this thread count: torch.mm
    (MKL in PyPI's torch) on square matrices, the best size's median."""
    best = 0.0
    per = {}
    for n in (1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        t = bc.median_time(lambda: torch.mm(a, b), max(args.repeats, 5))[0]
        per["sgemm %d^3 GFLOP/s" % n] = 2.0 * n ** 3 / t / 1e9
        best = max(best, per["sgemm %d^3 GFLOP/s" % n])
    bc.emit("sgemm_peak", "torch", 0.0, gflops=best, items=per)


def cpu_paths():
    """Which CPU paths this torch runs: ISA level, MKL, oneDNN (mkldnn), and
    the BLAS/oneDNN lines of its build configuration."""
    cfg = torch.__config__.show()
    keep = [ln.strip(" -") for ln in cfg.splitlines()
            if "Math Kernel" in ln or "MKL-DNN" in ln or "oneDNN" in ln or "CPU capability" in ln]
    return dict(mkl=torch.backends.mkl.is_available(), mkldnn=torch.backends.mkldnn.is_available(),
                cpu_capability=torch.backends.cpu.get_cpu_capability()
                if hasattr(torch.backends, "cpu") else "?", config=keep)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("workload")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--batches", type=int, default=0, help="batches per sample in --quick")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ftz", action="store_true",
                   help="torch.set_flush_denormal(True): flush denormals to zero (not the default)")
    args = p.parse_args()
    if args.ftz:
        torch.set_flush_denormal(True)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)
    info = dict(torch=torch.__version__, numpy=np.__version__,
                torch_threads=torch.get_num_threads(), flush_denormal=args.ftz,
                torch_cpu=cpu_paths())
    print("INFO " + __import__("json").dumps(info), flush=True)
    w = args.workload
    if w == "imdb_epoch":
        w_imdb_epoch(args)
    elif w == "imdb_infer":
        w_imdb_infer(args)
    elif w == "char_epoch":
        w_char_epoch(args)
    elif w == "gen_window":
        w_gen(args, False)
    elif w == "gen_stateful":
        w_gen(args, True)
    elif w == "markov":
        w_markov(args)
    elif w == "sgemm_peak":
        w_sgemm_peak(args)
    elif w in ("micro_torch", "micro_numpy"):
        w_micro(args, w.split("_")[1])
    else:
        sys.exit("peer_torch.py: unknown workload %r" % w)


if __name__ == "__main__":
    main()
