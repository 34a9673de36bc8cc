"""The study database: Optuna's schema and actsearch's own tables, through SQLAlchemy.

One storage contract for every caller: a *storage URL* (``str``) names a database, a *storage*
(:class:`optuna.storages.RDBStorage`) is an open one. Writers open it with
``open_storage(url)``; readers with ``open_storage(url, create=False)`` or
:class:`~actsearch.store.database.ReaderStorage`, and never create a table. May import:
``errors``, ``settings``.
"""
