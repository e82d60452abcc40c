from __future__ import annotations

from pathlib import Path

import pytest

from support.stack import Stack, make_stack


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    return make_stack(tmp_path)
