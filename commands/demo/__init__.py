"""`flask seed-demo` and `flask serve`: the demo data and the one-command server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import with_appcontext

from commands.demo import data as demo


def print_accounts() -> None:
    click.echo("\nDemo accounts (email / password):")
    for account in demo.ACCOUNTS:
        click.echo(f"  {account.email:42} {account.password:18} {account.note}")
    click.echo("")


@click.command("seed-demo")
@click.option("--quiet", is_flag=True, help="Do not list the demo accounts.")
@with_appcontext
def seed_demo(quiet: bool) -> None:
    """Fill the database with demo data (safe to run again)."""
    demo.seed()
    click.echo("Demo data is in place.")
    if not quiet:
        print_accounts()


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, what a child runs before exec so that the kernel sends it SIGTERM when
    this process dies, even by SIGKILL (prctl PR_SET_PDEATHSIG).

    Chosen over the worker polling os.getppid(): the kernel signals at once, whatever
    the worker is doing, and the worker then stops as on any SIGTERM; polling would
    notice only between rounds, would need the worker to know it runs under
    `flask serve` (under systemd it must not stop), and cannot rely on being adopted
    by pid 1 (a subreaper, such as `systemd --user` or a container's init, adopts it).
    The signal follows the thread that started the child: we start it from the main
    thread, which lives as long as the process.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    # Looked up here: after fork, only the call itself runs in the child.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent, term = os.getpid(), int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, term, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl took effect
            os._exit(1)

    return preexec


def _stop_on_sigterm(_signum: int, _frame) -> None:
    # Werkzeug's server loop ends on KeyboardInterrupt, as on Ctrl+C.
    raise KeyboardInterrupt


def _stop_worker(worker: subprocess.Popen, timeout: float, name: str = "mail worker") -> None:
    """Ask a worker to stop, wait for it, and kill it if it does not in time."""
    if worker.poll() is None:
        worker.terminate()
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        click.echo(f"The {name} did not stop within {timeout:g} s; killing it.", err=True)
        worker.kill()
        worker.wait()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Serve the portal for development, with the mail and task workers beside it.

    SIGTERM and Ctrl+C stop them all; the workers also stop if this process is killed.
    """
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()
    if not os.environ.get("BASE_URL"):
        app.config["BASE_URL"] = f"http://{host}:{port}"  # links in mail point here
    print_accounts()
    click.echo(f"The portal: http://{host}:{port}/   (staff area: /staff, mail: /staff/mail)")
    link = demo.open_invoice_payment_link()
    if link:
        click.echo(f"Pay an open demo invoice online (the sandbox bank): {link}")
    env = {**os.environ, "BASE_URL": app.config["BASE_URL"]}
    # The worker may be in the middle of a message: one socket step to finish it (each
    # bounded by MAIL_TIMEOUT), another to close the connection, and a margin.
    grace = 2 * app.config["MAIL_TIMEOUT"] + 5
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _stop_on_sigterm),
        signal.SIGINT: signal.getsignal(signal.SIGINT),
    }
    worker = tasks = None
    try:
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "mail", "worker"],
            env=env,
            preexec_fn=_die_with_parent(),
        )
        click.echo(f"Mail worker: pid {worker.pid}.")
        tasks = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "tasks", "worker"],
            env=env,
            preexec_fn=_die_with_parent(),
        )
        click.echo(f"Task worker: pid {tasks.pid}.")
        run_simple(host, port, app, use_reloader=False, use_debugger=False, threaded=True)
    except KeyboardInterrupt:
        pass  # a stop before the server loop ran
    finally:
        # Stopping now: a second Ctrl+C or SIGTERM must not cut this short.
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)
        if tasks is not None:
            tasks.terminate()  # both stop at once; each finishes what it is doing
        if worker is not None:
            _stop_worker(worker, grace)
        if tasks is not None:
            task_grace = 2 * app.config["FORWARDING_TIMEOUT"] + 5  # a call to finish
            _stop_worker(tasks, task_grace, "task worker")
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo("The portal stopped.")
