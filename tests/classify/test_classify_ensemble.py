"""The shipped seed ensemble: one pipeline, N disabled members, one enabled mean."""

from __future__ import annotations

import numpy as np
import pytest

from dsr_bot.classify.ensemble import FACTORY, MeanTextcat
from dsr_bot.classify.spacy_classifier import MODEL_DIR, load_pipeline, model_input
from dsr_bot.classify.training import ENSEMBLE, WIDTH_KEYS, Member

TEXTS = [
    model_input("GDPR", "Radera alla mina uppgifter och sluta skicka nyhetsbrev."),
    model_input("SAR", "Please send me a copy of all personal data you hold about me."),
    model_input("Offert", "Kan ni skicka en offert på tio centrifuger?"),
    model_input("", ""),
]


@pytest.fixture(scope="module")
def mean() -> MeanTextcat:
    nlp = load_pipeline(MODEL_DIR)
    assert nlp.pipe_names == [FACTORY], "only the mean runs; the members are disabled"
    component = nlp.get_pipe(FACTORY)
    assert isinstance(component, MeanTextcat)
    return component


def test_the_shipped_model_averages_at_least_three_members(mean: MeanTextcat) -> None:
    assert len(mean.members) >= 3
    assert len(mean.members) == len(ENSEMBLE)
    assert set(mean.members) <= set(mean.nlp.disabled)


def test_doc_cats_are_the_mean_of_the_members_scored_one_by_one(mean: MeanTextcat) -> None:
    nlp = mean.nlp
    docs = list(nlp.pipe(TEXTS))
    # Outside the mean's batch the shared-feature cache is empty, so each member computes
    # its own features here: this checks that sharing changed nothing.
    members = [nlp.get_pipe(name) for name in mean.members]
    fresh = [nlp.make_doc(text) for text in TEXTS]
    expected = sum(np.asarray(m.predict(fresh)) for m in members) / len(members)
    labels = members[0].labels
    for doc, row in zip(docs, expected, strict=True):
        assert [doc.cats[label] for label in labels] == pytest.approx(row.tolist(), abs=1e-6)


def test_one_doc_and_a_batch_score_alike(mean: MeanTextcat) -> None:
    nlp = mean.nlp
    batch = list(nlp.pipe(TEXTS, batch_size=2))
    for text, doc in zip(TEXTS, batch, strict=True):
        single = nlp(text)
        assert single.cats == pytest.approx(doc.cats, abs=1e-6)


def test_members_differ_so_the_mean_is_not_one_model_repeated(mean: MeanTextcat) -> None:
    nlp = mean.nlp
    docs = [nlp.make_doc(text) for text in TEXTS[:3]]
    scores = [np.asarray(nlp.get_pipe(name).predict(docs)) for name in mean.members]
    assert not np.allclose(scores[0], scores[1])


def test_a_member_sets_its_seed_and_only_then_its_width() -> None:
    assert Member(7).overrides() == {"system.seed": 7}
    narrow = Member(11, width=16).overrides()
    assert narrow["system.seed"] == 11
    assert all(narrow[key] == 16 for key in WIDTH_KEYS)
    assert len({m.seed for m in ENSEMBLE}) == len(ENSEMBLE), "one seed per member"


def test_an_empty_member_list_is_refused(mean: MeanTextcat) -> None:
    with pytest.raises(ValueError, match="at least one member"):
        MeanTextcat(mean.nlp, "x", [])


def test_threads_scoring_at_once_get_their_own_scores(mean: MeanTextcat) -> None:
    from concurrent.futures import ThreadPoolExecutor

    nlp = mean.nlp
    expected = [doc.cats for doc in nlp.pipe(TEXTS)]

    def score(i: int) -> list[dict[str, float]]:
        texts = TEXTS[i % len(TEXTS) :] + TEXTS[: i % len(TEXTS)]
        got = [doc.cats for doc in nlp.pipe(texts, batch_size=1 + i % 3)]
        shift = i % len(TEXTS)
        return got[-shift:] + got[:-shift] if shift else got

    with ThreadPoolExecutor(max_workers=4) as pool:
        for got in pool.map(score, range(24)):
            for a, b in zip(got, expected, strict=True):
                assert a == pytest.approx(b, abs=1e-6)
