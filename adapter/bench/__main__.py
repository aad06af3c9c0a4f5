"""`python -m adapter.bench`: the ingest and polling benchmark (adapter/bench/run.py)."""

from adapter.bench.run import main

raise SystemExit(main())
