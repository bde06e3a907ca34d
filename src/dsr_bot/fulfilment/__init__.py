"""Fulfilment: what actually happens to the data for each right.

- `suppression`: the marketing opt-out list (Art. 21(3)), its CSV export and HTTP endpoint.
- `sources`: the data-source file (`DSR_BOT_DATA_SOURCES`): SQL systems and manual ones.
- `sql_connector`: find, export and erase one person's rows in a SQL database.
- `findings`: what was found and done, and the access/portability files (Art. 15, 20).
- `plan`: the same for a case, across all sources, with the audit trail and checklist.

Import from the submodules: the connector side (`sources`, `sql_connector`, `findings`)
needs nothing of dsr-bot's own database, and importing it should not load the store.
"""
