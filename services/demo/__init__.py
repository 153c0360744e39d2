"""The demo that `make run` starts beside the four services: demo keys for each kind of
partner, a webhook sink that shows what partners receive, and its subscriptions. Not
part of any service: nothing here runs in production."""
