"""The sync engine: every network task of a mount (docs/notifications.md for the parts here).

* :mod:`.notifications`: :class:`~.notifications.ChangeNotifier`, the Socket.IO (Engine.IO v4)
  connection that says "something changed" and reports whether it is healthy.
* :mod:`.cadence`: :class:`~.cadence.Cadence`, when the next delta poll is due (a pure policy),
  and :class:`~.cadence.Doorbell`, the wait for "due or woken".
* :mod:`.backoff`: :class:`~.backoff.Backoff`, jittered exponential delays for both.
"""
