"""The transactional outbox: every side effect travels through PostgreSQL first.

A service calls `emit()` inside its transaction; the row commits (or rolls back) with the
service's own rows. After commit the relay job is triggered; it publishes due events to the
Redis stream `blog:events` and enqueues one job per registered handler. See DESIGN.md §2.
"""
