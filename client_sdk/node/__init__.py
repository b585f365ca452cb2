"""The program node's layers, each readable alone, stacked by inheritance:

- :mod:`client_sdk.node.state`: what the node holds; the keystore-backed state.
- :mod:`client_sdk.node.transport`: the relay session and sending envelopes.
- :mod:`client_sdk.node.bundle`: prekeys, profile and status published on the relay.
- :mod:`client_sdk.node.actions`: staff actions and the workflow's actions carried out.
- :mod:`client_sdk.node.receive`: frames from the relay opened and turned into events.

:class:`client_sdk.program.ProgramClient` sits on top: construction, connect, close.
"""
