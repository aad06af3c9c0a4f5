"""`python -m adapter` is `mc-adapter`."""

from adapter.cli import main

main()
