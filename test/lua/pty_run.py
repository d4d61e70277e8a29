#!/usr/bin/env python3
"""test/lua/pty_run.py - runs a command in a pseudo-terminal, for tests of
what seqlua does when a person is at the terminal (the prompt, the progress
bar).  Prints everything the command wrote to the terminal and exits with
the command's exit status (124 on timeout).

  pty_run.py [--cols N] [--timeout S] [--wait TEXT --send LINE]... -- cmd args...

Each --wait/--send pair waits until TEXT has appeared in the output (after
the previous match) and then types LINE and a newline.  After the last pair
it sends Ctrl-D and reads until the command exits.
"""
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def main(argv):
    cols, timeout, steps = 80, 60.0, []
    i = 0
    while i < len(argv) and argv[i] != '--':
        opt, val = argv[i], argv[i + 1]
        if opt == '--cols':
            cols = int(val)
        elif opt == '--timeout':
            timeout = float(val)
        elif opt == '--wait':
            steps.append([val, None])
        elif opt == '--send':
            steps[-1][1] = val
        else:
            sys.exit('pty_run.py: unknown option ' + opt)
        i += 2
    cmd = argv[i + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 24, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    out, seen, deadline = b'', 0, time.monotonic() + timeout
    sent_eof = False
    while True:
        if steps:
            want = steps[0][0].encode()
            at = out.find(want, seen)
            if at >= 0:
                seen = at + len(want)
                os.write(fd, steps[0][1].encode() + b'\n')
                steps.pop(0)
                continue
        elif not sent_eof:
            os.write(fd, b'\x04')
            sent_eof = True
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            sys.stdout.write(out.decode('utf-8', 'replace'))
            sys.stdout.write('\npty_run.py: timed out\n')
            os.waitpid(pid, 0)
            return 124
        r, _, _ = select.select([fd], [], [], min(left, 0.5))
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the command closed the terminal
                chunk = b''
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode('utf-8', 'replace'))
    return os.waitstatus_to_exitcode(status)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
