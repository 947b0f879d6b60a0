"""The committed fuzz corpora: corpus/TARGET.hex, one input a line in hex (empty line: the
empty input), sorted, so that a merge shows in a diff as lines added and removed."""

from __future__ import annotations

from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


def corpus_path(target: str) -> Path:
    return CORPUS_DIR / f"{target}.hex"


def read_corpus(target: str) -> list[bytes]:
    path = corpus_path(target)
    if not path.exists():
        return []
    return [bytes.fromhex(line) for line in path.read_text().split("\n")[:-1]]


def write_corpus(target: str, inputs: list[bytes]) -> None:
    CORPUS_DIR.mkdir(exist_ok=True)
    lines = sorted({data.hex() for data in inputs})
    corpus_path(target).write_text("".join(f"{line}\n" for line in lines))
