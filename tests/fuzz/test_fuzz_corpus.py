"""The fuzz corpora as regression tests: every committed input (and every seed) of every
target keeps the parser's contract. New inputs come from scripts/fuzz."""

from __future__ import annotations

import pytest

from tests.fuzz.corpora import read_corpus
from tests.fuzz.seeds import REGRESSIONS, SEEDS
from tests.fuzz.targets import TARGETS


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_corpus_keeps_the_contract(target: str) -> None:
    corpus = read_corpus(target)
    assert corpus, f"no committed corpus for {target}: run scripts/fuzz {target}"
    for data in [*SEEDS[target](), *REGRESSIONS.get(target, []), *corpus]:
        TARGETS[target](data)
