"""Serving the adapter with gunicorn, the production WSGI server."""

from __future__ import annotations

import os
import tempfile

from gunicorn.app.base import BaseApplication

from adapter.config import Config
from adapter.ops.logs import ACCESS_LOG_FORMAT


class AdapterServer(BaseApplication):
    """A gunicorn application that builds the Flask app in each worker (no shared engine across fork)."""

    def __init__(self, config: Config, *, host: str, port: int, workers: int, threads: int = 4, delivery_worker: bool = False):
        self.adapter_config = config
        self.options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            # JSON, paths only: query strings may carry patient identifiers (no patient data in logs).
            "access_log_format": ACCESS_LOG_FORMAT,
            "timeout": 60,
            # SIGTERM: stop accepting, let in-flight requests finish within this bound, then exit.
            "graceful_timeout": config.graceful_timeout,
            "child_exit": _metrics_child_exit,
        }
        _multiprocess_metrics_dir()
        if delivery_worker:
            self._add_delivery_worker()
        super().__init__()  # reads self.options (load_config)

    def _add_delivery_worker(self) -> None:
        """Run one `mc-adapter worker` beside the server, started and stopped with gunicorn's master."""
        import os
        import subprocess
        import sys

        process: list = []
        # The worker links to what the server serves (the bound address unless a base is configured).
        env = {**os.environ, "MC_PUBLIC_BASE_URL": self.adapter_config.public_base_url}

        def start(_server) -> None:
            process.append(subprocess.Popen([sys.executable, "-m", "adapter", "worker", "--threads", "2"], env=env))

        def stop(_server) -> None:
            for child in process:
                child.terminate()
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()

        self.options["when_ready"] = start
        self.options["on_exit"] = stop

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from adapter.app import create_app

        return create_app(self.adapter_config)


def _multiprocess_metrics_dir() -> None:
    """prometheus-client's multiprocess mode: gunicorn's workers write their counters to one directory."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mc-adapter-metrics-")


def _metrics_child_exit(_server, worker) -> None:
    """A worker that exits leaves its live gauges (connections in use) out of the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
