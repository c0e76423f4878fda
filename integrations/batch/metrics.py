"""Prometheus counter for batch rows; ``kind`` comes from code, so labels stay
bounded."""

from prometheus_client import Counter

BATCH_ROWS = Counter(
    "switchyard_batch_rows_total",
    "Batch rows worked, by job kind and result (done, retry, failed, lost, paced).",
    ["kind", "result"],
)
