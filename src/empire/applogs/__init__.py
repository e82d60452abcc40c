"""The platform's lines in each app's log: kept, written and merged with process output.

`empire.applog` is the seam (`LogLine`, the `AppLog` protocol); this package implements it:

- `memory`: `MemoryAppLog`, the history (the last `HISTORY_LINES` lines per app, in memory)
  and the listeners (log follows, drains, metrics);
- `text`: how a platform line is bounded and escaped before anyone sees it;
- `sentences`: the event sink that writes an `api` line for every write to an app;
- `requests`: the request listener that writes a `router` line for every public request;
- `merge`: an app's log as `emp logs` and `heroku logs` read it, platform and process lines
  in time order, history then follow.
"""
