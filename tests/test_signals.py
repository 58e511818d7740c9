"""Ctrl+C around steps that must not be cut in half (vit_gui/cli/signals.py), with real
SIGINTs and SIGTERMs, each in a fresh Python, so that nothing an earlier test loaded decides
how a signal lands. (So it once did: OpenVINO Cores released in the order they were made left
the main thread's alternate signal stack on freed memory, and a real signal ended pytest with
a segmentation fault; vit_gui/model/openvino_engine.py now keeps one Core.)"""

import subprocess
import sys
import textwrap

PRELUDE = """
import os, signal, sys, threading
from vit_gui.cli.signals import ctrl_c_waits, sigterm_as_interrupt, uninterruptible

def send(number=signal.SIGINT):
    os.kill(os.getpid(), number)
"""


def run(body: str) -> list[str]:
    """The lines the script prints (stdout); its stderr is checked where it says something."""
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines() + [f"stderr: {line}" for line in done.stderr.splitlines()]


def test_one_ctrl_c_waits_for_the_step_and_a_second_stops_it():
    lines = run("""
        before = signal.getsignal(signal.SIGINT)
        with ctrl_c_waits("leaving"):
            send()
            print("the step went on")
        print("restored", signal.getsignal(signal.SIGINT) is before)
        try:
            with ctrl_c_waits("leaving"):
                send()
                print("after the first")
                send()
                print("after the second")
        except KeyboardInterrupt:
            print("stopped")
        print("restored", signal.getsignal(signal.SIGINT) is before)
    """)
    assert lines == ["the step went on", "restored True", "after the first", "stopped", "restored True",
                     "stderr: vit-gui: Ctrl+C: leaving first (press it again to stop at once)",
                     "stderr: vit-gui: Ctrl+C: leaving first (press it again to stop at once)"]


def test_uninterruptible_and_sigterm_as_interrupt_put_back_what_was_there():
    lines = run("""
        def mine(number, frame):
            print("the handler that was there before")

        signal.signal(signal.SIGTERM, mine)
        before = signal.getsignal(signal.SIGINT)
        with uninterruptible():
            send()
            print("ignored")
        try:
            with sigterm_as_interrupt():
                send(signal.SIGTERM)
                print("not reached")
        except KeyboardInterrupt:
            print("SIGTERM stopped it as Ctrl+C does")
        print("restored", signal.getsignal(signal.SIGINT) is before, signal.getsignal(signal.SIGTERM) is mine)
        send(signal.SIGTERM)
    """)
    assert lines == ["ignored", "SIGTERM stopped it as Ctrl+C does", "restored True True",
                     "the handler that was there before"]


def test_in_another_thread_they_change_nothing():
    lines = run("""
        before = signal.getsignal(signal.SIGINT)
        seen = []

        def step():
            with ctrl_c_waits("leaving"), uninterruptible(), sigterm_as_interrupt():
                seen.append(signal.getsignal(signal.SIGINT))

        thread = threading.Thread(target=step)
        thread.start()
        thread.join()
        print(seen == [before], signal.getsignal(signal.SIGINT) is before)
    """)
    assert lines == ["True True"]
