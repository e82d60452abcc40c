"""The dashboard: server-rendered pages for browsers, on the API's port.

`empire.web.pages` holds the routes (sign-in, apps, an app's page and its forms, live logs
and changes), `empire.web.session` the cookie sessions and CSRF tokens. Its assets are in the
package (`static/`, `templates/`): nothing is fetched from the internet, so it works on an
air-gapped network. API clients are unaffected: the dashboard's paths are its own (`/ui/...`,
`/login`, `/logout`, `/static/...`) and `GET /` answers a page only to a browser.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"
