"""The sync engine: every network task of a mount, in one nursery (docs/engine.md).

* :mod:`.engine`: :class:`~.engine.Engine`, the composition and what the FUSE layer may ask.
* :mod:`.store`, :mod:`.handles`, :mod:`.sink`, :mod:`.cache`, :mod:`.config`, :mod:`.errors`:
  the shared parts (the writer behind its lock, open files, kernel invalidation, the cache
  directory, the knobs, the errnos).
* :mod:`.delta_loop` remote to local; :mod:`.hydrator`, :mod:`.content`, :mod:`.outbox_worker`,
  :mod:`.local`, :mod:`.conflicts` bytes and local to remote.
* :mod:`.notifications`: :class:`~.notifications.ChangeNotifier`, the Socket.IO (Engine.IO v4)
  connection that says "something changed" and reports whether it is healthy.
* :mod:`.cadence`: :class:`~.cadence.Cadence`, when the next delta poll is due (a pure policy),
  and :class:`~.cadence.Doorbell`, the wait for "due or woken".
* :mod:`.backoff`: :class:`~.backoff.Backoff`, jittered exponential delays for both.
"""
