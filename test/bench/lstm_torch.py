#!/usr/bin/python3
"""PyTorch CPU peer of test/bench/lstm_bench.lua: nn.LSTM forward+backward
at the course's two shapes.  Prints
"RESULT <case> <median wall s> <peak RSS MiB> <median CPU s (all threads)>".
Usage: /usr/bin/python3 test/bench/lstm_torch.py [--case imdb|char|all]
       [--threads N] [--repeats N]"""
import argparse
import resource
import statistics
import time

import torch

SHAPES = {
    'imdb': dict(B=64, T=500, I=32, H=100, x_grad=True),
    'char': dict(B=128, T=40, I=57, H=128, onehot=True),
}


def run_case(name, repeats):
    c = SHAPES[name]
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(c['I'], c['H'], batch_first=True)
    if c.get('onehot'):
        ids = torch.randint(0, c['I'], (c['B'], c['T']))
        x = torch.nn.functional.one_hot(ids, c['I']).float()
    else:
        x = torch.randn(c['B'], c['T'], c['I'])
    if c.get('x_grad'):
        x.requires_grad_(True)
    dy = torch.randn(c['B'], c['T'], c['H'])

    def step():
        lstm.zero_grad(set_to_none=True)
        if x.requires_grad:
            x.grad = None
        y, _ = lstm(x)
        y.backward(dy)

    step()  # warm-up
    samples, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print('RESULT %s %.6f %.1f %.6f' % (name, statistics.median(samples), rss,
                                        statistics.median(cpu)), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--case', default='all')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in (SHAPES if a.case == 'all' else [a.case]):
        run_case(name, a.repeats)


if __name__ == '__main__':
    main()
