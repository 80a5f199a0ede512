"""Alerts: webhooks when a limit changes state.

- ``detect``: every process compares each live limit's state (ok / exceeded / overrun, whether its window has
  blocked a request, and which window or reset its totals belong to) with the state alerts last saw
  (``alert_limit_states``). A change is claimed with a compare-and-set on the row's ``version``: of several
  processes that see it, one moves the version on and, in the same transaction, records the events
  (``exceeded``, ``overrun``, ``blocked``, ``reset``) and one delivery per endpoint of the organisation - so each
  transition is one event, whatever the number of workers or servers.
- ``deliver``: due deliveries are leased (one sender at a time), POSTed as generic JSON or a Slack message,
  signed (``X-Payi-Signature: sha256=HMAC(secret, "<timestamp>.<body>")``), and retried with backoff.
- ``endpoints``: the endpoints of an organisation, "send test", and the delivery log (the dashboard's /alerts).
- ``worker``: the loop each server process runs.
"""
