"""Title normalisation and similarity (pure)."""

from __future__ import annotations

import pytest

from torrentino_bridge.importing.titles import normalise_title, title_similarity, version_words


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Café del Mar", "cafe del mar"),
        ("Ça Plane Pour Moi", "ca plane pour moi"),
        ("Motörhead", "motorhead"),
        ("Salt & Pepper", "salt and pepper"),
        ("Paper Planes (Remastered 2011)", "paper planes"),
        ("Paper Planes - 2011 Remaster", "paper planes"),
        ("Paper Planes [2009 Digital Remaster]", "paper planes"),
        ("Paper Planes (Remastered Version)", "paper planes"),
        ("Paper Planes (Deluxe Edition)", "paper planes"),
        ("Paper Planes (Bonus Track)", "paper planes"),
        ("Paper Planes (Album Version)", "paper planes"),
        ("Stay (feat. Mira)", "stay"),
        ("Stay [ft. Mira & Jo]", "stay"),
        ("Stay feat. Mira", "stay"),
        ("Stay (with Mira)", "stay"),
        ("Don't Look Back", "don t look back"),
        ("Don’t Look Back", "don t look back"),
        ("Exit Music (For a Film)", "exit music for a film"),
        ("  Many   Spaces ", "many spaces"),
        # A different recording keeps its words.
        ("Run (Live)", "run live"),
        ("Run - Radio Edit", "run radio edit"),
        ("Run (Acoustic Version)", "run acoustic version"),
        ("Run (Remix)", "run remix"),
    ],
)
def test_normalise_title(raw: str, normal: str) -> None:
    assert normalise_title(raw) == normal


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Café Noir", "cafe noir"),
        ("Salt & Pepper", "Salt and Pepper"),
        ("Paper Planes (Remastered 2011)", "Paper Planes"),
        ("Stay (feat. Mira)", "STAY"),
        ("Señorita Blue", "Senorita Blue"),
        ("Mr. Brightside", "Mr Brightside"),
    ],
)
def test_same_song_spelled_differently_is_identical(a: str, b: str) -> None:
    assert title_similarity(a, b) == 1.0


@pytest.mark.parametrize(
    ("a", "b", "below"),
    [
        ("Run", "Run (Reprise)", 0.85),
        ("Run", "Run (Live)", 0.85),
        ("Run", "Run Away", 0.8),
        ("Neon Lights", "Lighthouse", 0.7),
        ("Glass Houses", "Ocean Drive", 0.5),
        ("Harbour", "Neon Lights", 0.5),
    ],
)
def test_different_songs_are_not_close(a: str, b: str, below: float) -> None:
    similarity = title_similarity(a, b)
    assert similarity is not None and similarity < below


def test_glued_words_still_match() -> None:
    similarity = title_similarity("Neon Lights", "NeonLights")
    assert similarity is not None and similarity >= 0.95


def test_word_order_counts_as_close() -> None:
    similarity = title_similarity("Lights Neon", "Neon Lights")
    assert similarity is not None and similarity >= 0.95


@pytest.mark.parametrize(("a", "b"), [(None, "x"), ("x", None), ("", "x"), ("!!!", "x")])
def test_no_text_means_no_signal(a: str | None, b: str | None) -> None:
    assert title_similarity(a, b) is None


@pytest.mark.parametrize(
    ("a", "b"), [("Exit Music", "Exit Music (For a Film)"), ("Run", "Run (Reprise)")]
)
def test_file_without_the_catalog_bracket_is_fair_but_not_exact(a: str, b: str) -> None:
    assert title_similarity(a, b) == 0.8


@pytest.mark.parametrize(("a", "b"), [("Run (Live)", "Run"), ("Run (Demo)", "Run (Reprise)")])
def test_file_with_a_version_bracket_of_its_own_gets_no_help(a: str, b: str) -> None:
    similarity = title_similarity(a, b)
    assert similarity is not None and similarity < 0.8


@pytest.mark.parametrize(("title", "words"), [
    ("Neon Lights (Live)", {"live"}), ("neon_lights_(remix)", {"remix"}), ("Neon Lights - Demo", {"demo"}),
    ("Neon Lights [Acoustic Version]", {"acoustic"}), ("Live Forever", {"live"}), ("A Cappella Song", {"acappella"}),
    ("Neon Lights (Remastered 2011)", set()), ("Delivery", set()), ("Olive Tree", set()),
])
def test_version_words(title: str, words: set[str]) -> None:
    assert version_words(title) == words
