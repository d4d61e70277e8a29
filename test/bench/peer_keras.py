#!/usr/bin/env python3
"""Keras 3 (TensorFlow backend, CPU) peer for test/bench/run: the course's
tutorial code with the same shapes and thread count as the seqlua side.

Needs a Python with `keras` (3.x) and `tensorflow-cpu`, e.g. a venv:
    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install tensorflow-cpu keras
    /tmp/kvenv/bin/python test/bench/peer_keras.py WORKLOAD [--threads N] [--quick] ...

WORKLOAD: imdb_epoch imdb_infer char_epoch gen_window markov
(no gen_stateful: the tutorial re-runs the 40-char window for every char).
Prints one `RESULT {json}` line (see bench_common.py)."""
import argparse
import json
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402


def setup(threads):
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    keras.utils.set_random_seed(1)
    return tf, keras


def imdb_model(keras, c):
    m = keras.Sequential([
        keras.Input((c["maxlen"],), dtype="int32"),
        keras.layers.Embedding(c["vocab"], c["embed"]),
        keras.layers.LSTM(c["units"]),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    m.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return m


def char_model(keras, c):
    m = keras.Sequential([
        keras.Input((c["maxlen"], c["nchars"])),
        keras.layers.LSTM(c["units"]),
        keras.layers.Dense(c["nchars"], activation="softmax"),
    ])
    m.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(learning_rate=c["lr"]))
    return m


def time_fit(model, x, y, batch, n_epoch, args, quick_batches):
    """Quick: fit() on args.batches*batch samples, extrapolated to the epoch;
    full: fit() on everything.  One warm-up fit on 2 batches first."""
    model.fit(x[:2 * batch], y[:2 * batch], epochs=1, batch_size=batch, verbose=0)
    nb_epoch = bc.batches_per_epoch(n_epoch, batch)
    nb = (args.batches or quick_batches) if args.quick else nb_epoch
    samples = []
    for _ in range(args.repeats):
        t0 = bc.now()
        model.fit(x[:nb * batch], y[:nb * batch], epochs=1, batch_size=batch, verbose=0,
                  shuffle=True)
        samples.append((bc.now() - t0) / nb * nb_epoch)
    return statistics.median(samples), samples, nb


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("workload")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--batches", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    import numpy as np
    tf, keras = setup(args.threads)
    print("INFO " + json.dumps(dict(keras=keras.__version__, tensorflow=tf.__version__,
                                    numpy=np.__version__, intra_op=args.threads, inter_op=1)),
          flush=True)
    rng = np.random.default_rng(1)
    w = args.workload
    if w in ("imdb_epoch", "imdb_infer"):
        c = bc.IMDB
        x = rng.integers(0, c["vocab"], (c["n"], c["maxlen"]), dtype=np.int32)
        y = rng.integers(0, 2, (c["n"],)).astype(np.float32)
        model = imdb_model(keras, c)
        if w == "imdb_epoch":
            med, samples, nb = time_fit(model, x, y, c["batch"], c["n"], args, 10)
            bc.emit(w, "keras", med, samples, extrapolated=args.quick, batches_timed=nb)
        else:
            B = bc.INFER_BATCH
            nb = (args.batches or 10) if args.quick else bc.batches_per_epoch(c["n"], B)
            model.predict(x[:2 * B], batch_size=B, verbose=0)
            samples = []
            for _ in range(args.repeats):
                t0 = bc.now()
                model.predict(x[:nb * B], batch_size=B, verbose=0)
                samples.append((bc.now() - t0) / nb * bc.batches_per_epoch(c["n"], B))
            bc.emit(w, "keras", statistics.median(samples), samples, extrapolated=args.quick,
                    batches_timed=nb, batch_size=B)
    elif w == "char_epoch":
        c = bc.CHAR
        # the tutorial's bool one-hot arrays
        ids = rng.integers(0, c["nchars"], (c["n"], c["maxlen"]))
        x = np.zeros((c["n"], c["maxlen"], c["nchars"]), dtype=bool)
        np.put_along_axis(x, ids[..., None], True, axis=2)
        y = np.zeros((c["n"], c["nchars"]), dtype=bool)
        y[np.arange(c["n"]), rng.integers(0, c["nchars"], c["n"])] = True
        model = char_model(keras, c)
        med, samples, nb = time_fit(model, x, y, c["batch"], c["n"], args, 40)
        bc.emit(w, "keras", med, samples, extrapolated=args.quick, batches_timed=nb)
    elif w == "gen_window":
        c = bc.CHAR
        model = char_model(keras, c)
        seed_ids = list(rng.integers(0, c["nchars"], c["maxlen"]))
        nchars = 100 if args.quick else bc.GEN_CHARS

        def sample(preds, temperature=0.5):
            preds = np.asarray(preds).astype("float64")
            preds = np.log(preds + 1e-12) / temperature
            exp_preds = np.exp(preds)
            preds = exp_preds / np.sum(exp_preds)
            return int(np.argmax(rng.multinomial(1, preds, 1)))

        def generate(n):
            ids = list(seed_ids)
            for _ in range(n):
                x_pred = np.zeros((1, c["maxlen"], c["nchars"]))
                for t, i in enumerate(ids[-c["maxlen"]:]):
                    x_pred[0, t, i] = 1.0
                preds = model.predict(x_pred, verbose=0)[0]
                ids.append(sample(preds))

        generate(3)
        samples = []
        for _ in range(args.repeats):
            t0 = bc.now()
            generate(nchars)
            samples.append((bc.now() - t0) * bc.GEN_CHARS / nchars)
        bc.emit(w, "keras", statistics.median(samples), samples, extrapolated=args.quick,
                chars=bc.GEN_CHARS)
    elif w == "markov":
        text = bc.read_nietzsche().lower()
        chars = sorted(set(text))
        V = len(chars)

        def count():
            lut = {ch: i for i, ch in enumerate(chars)}
            ids = np.array([lut[ch] for ch in text], dtype=np.int64)
            counts = np.bincount(ids[:-1] * V + ids[1:], minlength=V * V).reshape(V, V)
            probs = counts / np.maximum(counts.sum(1, keepdims=True), 1)
            return counts, probs

        counts, probs = count()
        assert counts[chars.index("a"), chars.index("b")] == 813
        med, samples = bc.median_time(count, repeats=args.repeats, min_time=0.0)
        bc.emit(w, "numpy", med, samples, vocab=V, note="numpy (the Keras tutorial has no Markov stage)")
    else:
        sys.exit("peer_keras.py: workload %r not provided by the Keras peer" % w)


if __name__ == "__main__":
    main()
