"""The ledger room: `exchange ledger`, the process that writes the streams into Postgres.

Its writers (the event persister, the candle builder and the audit writer) each read one
stream as a consumer group through the shared at-least-once loop (`stream_consumer`) and write
whole batches per transaction. Nothing here serves requests; the gateway only reads what
these writers wrote.
"""
