"""The program node's keystore, format 2: a SQLite file of sealed, padded records.

:mod:`client_sdk.vault.sealing` (keys, padding, sealing), :mod:`client_sdk.vault.store`
(the ``Keystore`` class), :mod:`client_sdk.vault.witness` (rollback detection),
:mod:`client_sdk.vault.migrate` (format 1 files converted on open) and
:mod:`client_sdk.vault.backup` (backups that are safe to restore).
"""
