"""Every Prometheus metric of the service, in one place (no Flask here: workers, the CLI
and background threads all count through these)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("promo_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"])
HTTP_LATENCY = Histogram(
    "promo_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

STOCK_EVENTS = Counter("promo_stock_events_total", "Stock events logged, by type and outcome",
                       ["type", "outcome"])
STOCK_DUPLICATES = Counter("promo_stock_duplicate_events_total", "Stock events received again (ignored)")
STOCK_ANOMALIES = Counter("promo_stock_anomalies_total", "Facts that took on-hand below zero")
STOCK_VIEW_SEQ = Gauge("promo_stock_view_seq", "Sequence number the process's stock view has reached",
                       multiprocess_mode="liveall")
STOCK_VIEW_LAG = Gauge("promo_stock_view_lag_seconds", "Seconds since the stock view last matched the log",
                       multiprocess_mode="liveall")
STOCK_VIEW_POSITIONS = Gauge("promo_stock_view_positions", "Positions held by the stock view",
                             multiprocess_mode="liveall")
STOCK_LISTENING = Gauge("promo_stock_listen_connected",
                        "1 while the process LISTENs for stock changes on PostgreSQL (0: polling only)",
                        multiprocess_mode="liveall")
STOCK_LISTEN_CONNECTS = Counter("promo_stock_listen_connects_total",
                                "LISTEN connections opened for stock changes (more than one per process: reconnects)")
WAL_CHECKPOINT_FAILURES = Counter("promo_wal_checkpoint_failures_total",
                                  "Background SQLite WAL checkpoints that failed (the WAL grows meanwhile)")
STOCK_UNREADABLE = Counter("promo_stock_unreadable_events_total",
                           "Logged stock events a process's view could not read as they are and followed past "
                           "(their position deltas applied where they were numbers); promo stock verify lists them")
STOCK_SNAPSHOTS = Counter("promo_stock_view_snapshots_total", "Full snapshot loads of the stock view")

RECOMMENDATIONS = Counter("promo_recommendations_total", "Recommendation answers, by mode and by what served them",
                          ["mode", "source"])
MODEL_LOAD_FAILURES = Counter("promo_model_load_failures_total", "Model versions that could not be loaded",
                              ["name"])
MODEL_SERVED_AT = Gauge("promo_model_trained_at_seconds",
                        "When the model version this process serves was trained (Unix time)",
                        ["name"], multiprocess_mode="liveall")

WEBHOOK_DELIVERIES = Counter("promo_webhook_deliveries_total",
                             "Webhook delivery attempts, by outcome: delivered (a 2xx), retry (failed, will be "
                             "tried again), failed (failed and given up)", ["outcome"])
WEBHOOK_PENDING = Gauge("promo_webhook_pending", "Webhook deliveries waiting to be sent (the outbox, all processes)",
                        multiprocess_mode="livemax")

OFFER_LISTS = Counter("promo_offer_lists_total", "Offer and deal lists served, by kind and whether personalised",
                      ["kind", "personalised"])
EXPOSURES_WRITTEN = Counter("promo_exposures_written_total", "Served-list exposures written to the database")
EXPOSURES_DROPPED = Counter("promo_exposures_dropped_total",
                            "Exposures dropped because the buffer was full (the database was away too long)")
EXPOSURES_PENDING = Gauge("promo_exposures_pending", "Exposures buffered in this process, not yet written",
                          multiprocess_mode="liveall")
SERVING_LIVE_CAMPAIGNS = Gauge("promo_serving_live_campaigns", "Active campaigns in this process's serving snapshot",
                               multiprocess_mode="liveall")
SERVING_CACHE_ENTRIES = Gauge("promo_serving_cache_entries",
                              "Entries in this process's bounded serving caches (offer plans and terms, affinities)",
                              ["cache"], multiprocess_mode="liveall")
SERVING_REFRESH_SECONDS = Histogram("promo_serving_refresh_seconds",
                                    "Time of one refresh of the serving snapshot's versions and changed parts",
                                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
