"""App names: an app named like a top-level domain would shadow real domains for every app
(its internal names `<process>.<app>` resolve to the router in every container)."""

from __future__ import annotations

import pytest

from empire.errors import Invalid
from empire.formation import check_app_name


@pytest.mark.parametrize("name", ["com", "net", "org", "localhost", "internal", "test"])
def test_top_level_domains_are_no_app_names(name: str) -> None:
    with pytest.raises(Invalid, match="top-level domain"):
        check_app_name(name)


@pytest.mark.parametrize("name", ["acme-inc", "web", "shop", "api", "com-site"])
def test_other_names_are_fine(name: str) -> None:
    check_app_name(name)
