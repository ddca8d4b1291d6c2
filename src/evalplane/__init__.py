"""evalplane: a self-hosted Arize AX v2 Tasks server that runs evaluation tasks."""

__version__ = "0.1.0"
