"""Shared by the peer benchmarks (peer_torch.py, peer_keras.py) and the driver.

Pure Python (no numpy import) so that each peer can run under its own
interpreter (Debian's python3 for torch, a venv for Keras/TensorFlow).
Every peer prints exactly one line per workload:

    RESULT {"workload": ..., "impl": ..., "seconds": median, "samples": [...], ...}

`seconds` is the figure for the whole workload (an epoch, an inference pass
over 25,000 reviews, 400 generated characters, ...); when `extrapolated` is
true it was computed from timed batches (quick mode)."""
import json
import math
import os
import statistics
import time

# The course's workloads (Keras tutorials): shapes shared by every peer.
IMDB = dict(n=25000, maxlen=500, vocab=5000, embed=32, units=100, batch=64)
CHAR = dict(n=200285, maxlen=40, nchars=57, units=128, batch=128, lr=0.01)
GEN_CHARS = 400
INFER_BATCH = 256  # predict()'s batch size, the same for every peer

MICRO_MATMUL = [  # (M, K, N): [M,K] x [K,N]
    (32000, 32, 400),   # IMDB input projection, all steps
    (64, 100, 400),     # IMDB recurrent step
    (5120, 57, 512),    # char-RNN input projection (float one-hot)
    (128, 128, 512),    # char-RNN recurrent step
    (128, 128, 57),     # char-RNN Dense
]
MICRO_ELTWISE = [(64, 400), (32000, 400)]  # gate block per step, all steps


def now():
    return time.perf_counter()


def median_time(fn, repeats=5, min_time=0.2, max_inner=100000):
    """Median seconds per call of fn() over `repeats` samples; each sample
    loops fn enough times to last about `min_time` seconds."""
    fn()  # warm-up
    t0 = now()
    fn()
    one = max(now() - t0, 1e-9)
    inner = max(1, min(max_inner, int(min_time / one)))
    samples = []
    for _ in range(repeats):
        t0 = now()
        for _ in range(inner):
            fn()
        samples.append((now() - t0) / inner)
    return statistics.median(samples), samples


def batches_per_epoch(n, batch):
    return math.ceil(n / batch)


def arithmetic_flops(workload):
    """FLOPs the workload cannot avoid: the LSTM's GEMMs (2 per multiply-add;
    a training step counts 3x the forward: forward, input and weight
    gradients) plus the Dense layer.  One-hot inputs (char-RNN) count no input
    projection: it is a row gather.  None for workloads without a GEMM core."""
    i, c = IMDB, CHAR
    imdb_fwd = 2.0 * i["n"] * i["maxlen"] * (i["embed"] + i["units"]) * 4 * i["units"]
    char_fwd = 2.0 * c["n"] * (c["maxlen"] * c["units"] * 4 * c["units"] +
                               c["units"] * c["nchars"])
    gen_step = 2.0 * (c["units"] * 4 * c["units"] + c["units"] * c["nchars"])
    return {
        "imdb_epoch": 3 * imdb_fwd,
        "imdb_infer": imdb_fwd,
        "char_epoch": 3 * char_fwd,
        "gen_window": 400 * c["maxlen"] * gen_step,
        "gen_stateful": 400 * gen_step,
    }.get(workload)


def matmul_flops(item):
    """2*M*K*N for a micro item named 'matmul MxKxN', else None."""
    if not item.startswith("matmul "):
        return None
    m, k, n = (int(x) for x in item.split()[1].split("x"))
    return 2.0 * m * k * n


def emit(workload, impl, seconds, samples=None, **extra):
    rec = dict(workload=workload, impl=impl, seconds=seconds,
               samples=samples if samples is not None else [seconds])
    rec.update(extra)
    print("RESULT " + json.dumps(rec), flush=True)


def data_dir():
    d = os.environ.get("SEQLUA_DATA")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data"))


def read_nietzsche():
    with open(os.path.join(data_dir(), "nietzsche.txt"), encoding="utf-8") as f:
        return f.read()
