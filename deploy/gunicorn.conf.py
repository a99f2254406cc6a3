"""gunicorn's settings for the portal: `gunicorn -c deploy/gunicorn.conf.py 'app:create_app()'`.

Each setting can be overridden from the environment (GUNICORN_CMD_ARGS, or the
variables read below), so that the same file serves every host.
"""

import multiprocessing
import os

# Behind the TLS proxy on the same host; PROXY_COUNT=1 makes the app trust its headers.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# The portal's requests are short and CPU-bound: two workers a core keep the cores busy
# while one waits on the database.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
# The app is made once, in the master, before the workers are forked: an unsafe
# configuration stops gunicorn at once with its report (a worker that refused would
# only be started again and again), and the workers share the loaded code's memory.
# Nothing connects to the database while the app is made.
preload_app = True
# A request that takes longer is killed and logged (the statement timeout is 30 s).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
# On SIGTERM, requests under way have this long to finish.
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests, so that no slow leak grows for ever.
max_requests = 5000
max_requests_jitter = 500
# The app writes one JSON line per request itself, without client addresses or paths;
# gunicorn's access log would write both.
accesslog = None
errorlog = "-"
capture_output = True
# The proxy on loopback is the only one whose X-Forwarded-* gunicorn passes on.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server) -> None:
    """In the master, once the app is made and before the workers fork: configure the
    models' mappers (which the app leaves to its first query), so that every worker
    starts with them ready; then freeze what is loaded (gc.freeze), so that the
    workers' garbage collections neither walk it nor copy its pages."""
    import gc

    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    gc.freeze()
