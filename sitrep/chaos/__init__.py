"""Fault injection (`sitrep chaos`): the whole pipeline on the real local stack, a fault
mid-stream, and the end-to-end invariants checked once it has recovered.

``invariants`` holds the pure checks, ``scenarios`` the faults, ``feed`` the input and the HTTP
client that sends it, ``receiver`` the webhook endpoint the notifier delivers to, ``pipeline``
the processes and Kafka/Elasticsearch reads, ``run`` one scenario end to end, ``report`` the
table. See docs/reliability.md.
"""
