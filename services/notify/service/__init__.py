"""Notify's use cases. Each takes the unit of work it runs in (`uow`) and keyword
arguments only; it changes rows through `uow.session`, records the events its change
implies with `uow.record`, and raises `shared.problems.Problem` for what it refuses.
The owner of the unit (a route's dependency, the consumer, a loop) commits.

- `subscriptions`: a partner's webhook subscriptions.
- `changes`: who created, paused, resumed, deleted, rotated, pinged or replayed what.
- `deliveries`: queueing notifications (fan-out) and a partner's view of them.
- `attempts`: the dispatcher's rounds: claim what is due, record what each POST gave.
- `encompass`: Operation Encompass notices: recording, alerts, retention, reads.
"""
