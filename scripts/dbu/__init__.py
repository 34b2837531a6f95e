"""dmabuf-bench: the dmabuf_uring project's scripts (Python 3 stdlib only)."""
