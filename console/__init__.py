"""Quietline's staff console: the program node as a service, with a console for staff.

Built on :mod:`client_sdk` (the relay and the SDK never import this package):

- :mod:`console.errors`: the error tree, each with a message fit to show staff.
- :mod:`console.settings`: :class:`~console.settings.ConsoleSettings`.
- :mod:`console.accounts`: staff accounts (Argon2id, sealed in the keystore).
- :mod:`console.replies`: saved replies (sealed in the keystore).
- :mod:`console.node`: :class:`~console.node.ConsoleNode`, the one owner of the node's
  state while it runs.
- :mod:`console.service`: ``quietline program run``.
- :mod:`console.cli`: ``quietline program run | staff ... | replies ...``.
- :mod:`console.demo`: ``quietline demo``.
- :mod:`console.web`: the browser side (``create_app(node, settings)``).

See ``docs/console.md``.
"""
