"""Ctrl+C around steps that must not be cut in half (vit_gui/cli/signals.py), with real
SIGINTs and SIGTERMs sent to this process."""

import os
import signal

import pytest

from vit_gui.cli.signals import ctrl_c_waits, sigterm_as_interrupt, uninterruptible


def send(number=signal.SIGINT):
    os.kill(os.getpid(), number)


def test_one_ctrl_c_waits_for_the_step_and_a_second_stops_it(capsys):
    done = []
    with ctrl_c_waits("leaving"):
        send()
        done.append("the step went on")
    assert done == ["the step went on"]
    assert "Ctrl+C: leaving first (press it again to stop at once)" in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_waits("leaving"):
            send()
            done.append("after the first")
            send()
            done.append("after the second")
    assert done[1:] == ["after the first"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_uninterruptible_and_sigterm_as_interrupt_put_the_handlers_back():
    with uninterruptible():
        send()  # ignored
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            send(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
