"""Log drains: every line of an app's log (process output, platform and router lines)
forwarded to the syslog and HTTPS endpoints its users add.

- `rules`: what a drain is (`Drain`) and which URLs may be one (pure, used by the core);
- `frames`: RFC 5424 frames, octet-counted, from process lines and `LogLine`s;
- `outlet`: one drain's bounded buffer and its connection (syslog over TCP or TLS, HTTPS
  logplex batches), reconnecting with backoff;
- `service`: the one event loop thread all outlets run on, the platform lines it listens to
  and the process output it follows, kept in step with the store.
"""
