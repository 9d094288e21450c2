"""The FUSE file system: what users touch (docs/fs.md).

* :mod:`.operations`: :class:`~.operations.Operations`, the pyfuse3 request handlers, a thin
  adapter from kernel requests to store reads and engine calls; drivable without a kernel.
* :mod:`.errors`: :func:`~.errors.guarded`, the wrapper every handler runs in (an exception
  becomes its errno, or EIO with a logged traceback, never a dead mount).
* :mod:`.attributes`: the store's columns as ``stat`` shows them, and the cache timeouts.
* :mod:`.status`: the ``user.onemount.*`` extended attributes.
* :mod:`.kernel`: the kernel's lookup counts and the engine's invalidation sink.
* :mod:`.mount`: one mount's life (engine, kernel mount, control channel, signals, drain).
* :mod:`.mountpoint`: checks, stale-mount recovery, unmounting. :mod:`.control`: the socket
  ``onemount unmount`` talks to. :mod:`.daemon`: ``--daemon``. :mod:`.tuning`: read-ahead.
"""
