"""A seed ensemble in one spaCy pipeline: N `textcat_multilabel` members, one mean.

Why: models trained from different seeds disagree on the wordings they half-know, and the
mean of their scores is steadier than any one of them (classifiers/README.md: averaging seeds
raised dev macro-F1 every time it was tried). Why not N pipelines: every pipeline would
tokenise the mail again and extract the same features again, which is most of the cost.

How: the members are ordinary `textcat_multilabel` components, stored by spaCy as usual but
*disabled*, so `nlp.pipe` does not run them one by one (each would overwrite `doc.cats`).
The enabled `mean_textcat` component runs them on each batch and writes the mean once. The
members share one architecture, so their first layers (token attributes for the CNN, hashed
n-gram keys for the bag of words) compute the same arrays from the same docs; while a batch
runs, those layers answer from one shared cache, so each member pays only for its own weights.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from spacy.language import Language
from spacy.util import minibatch
from thinc.api import Model

if TYPE_CHECKING:
    from spacy.pipeline import TextCategorizer
    from spacy.tokens import Doc

FACTORY = "mean_textcat"
# Parameter-free first layers whose output depends only on the docs and the layer's attrs.
SHARED_LAYERS = ("extract_features", "extract_ngrams")


class _BatchCache(threading.local):
    """Outputs of the shared layers for the batch being scored; empty outside a batch, so a
    member called on its own computes its features as usual. Per thread: `load_pipeline`
    shares one pipeline between classifiers, so two threads may score batches at once."""

    def __init__(self) -> None:
        self.docs: list[Doc] | None = None
        self.outputs: dict[tuple[str, str], Any] = {}

    def start(self, docs: list[Doc]) -> None:
        self.docs, self.outputs = docs, {}

    def holds(self, docs: list[Doc]) -> bool:
        """Same docs as the batch being scored. By element, because `with_cpu` hands its
        layer a copy of the list."""
        batch = self.docs
        return (
            batch is not None
            and len(batch) == len(docs)
            and all(a is b for a, b in zip(batch, docs, strict=True))
        )

    def stop(self) -> None:
        self.docs, self.outputs = None, {}


def _shared(layer: Model, cache: _BatchCache) -> Model:
    """`layer`, answering from `cache` for the current batch. The forward is a closure, not
    an attr, so the member still serialises exactly as it was trained."""
    key = (layer.name, repr(sorted(layer.attrs.items())))

    def forward(model: Model, docs: list[Doc], is_train: bool) -> tuple[Any, Callable]:
        # Not keyed on is_train: `with_cpu` calls its layer with is_train=True even in
        # predict, and these layers have no parameters and no dropout. The cache is only
        # filled inside `MeanTextcat.predict`, never during training.
        if not cache.holds(docs):
            return layer(docs, is_train)
        if key not in cache.outputs:
            cache.outputs[key] = layer(docs, is_train)
        return cache.outputs[key]

    return Model(f"shared({layer.name})", forward, layers=[layer])


class MeanTextcat:
    """Scores each doc with every member and stores the mean per label in `doc.cats`."""

    def __init__(self, nlp: Language, name: str, members: list[str]) -> None:
        if not members:
            raise ValueError("mean_textcat needs at least one member component")
        self.nlp = nlp
        self.name = name
        self.members = list(members)
        self._cache = _BatchCache()
        self._components: list[TextCategorizer] | None = None

    def _resolve(self) -> list[TextCategorizer]:
        """Members are looked up on first use: they are loaded alongside, not before, us."""
        if self._components is None:
            components = [self.nlp.get_pipe(name) for name in self.members]
            labels = tuple(components[0].labels)
            for component in components:
                if tuple(component.labels) != labels:
                    raise ValueError(f"{component.name} has other labels than {self.members[0]}")
                for node in list(component.model.walk()):
                    if node.name in SHARED_LAYERS:
                        component.model.replace_node(node, _shared(node, self._cache))
            self._components = components
        return self._components

    def predict(self, docs: list[Doc]) -> Any:
        components = self._resolve()
        self._cache.start(docs)
        try:
            total = components[0].predict(docs)
            for component in components[1:]:
                total = total + component.predict(docs)
        finally:
            self._cache.stop()
        return total / len(components)

    def set_annotations(self, docs: list[Doc], scores: Any) -> None:
        labels = self._resolve()[0].labels
        for doc, row in zip(docs, scores.tolist(), strict=True):
            doc.cats = dict(zip(labels, row, strict=True))

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            self.set_annotations(batch, self.predict(batch))
            yield from batch


@Language.factory(FACTORY, default_config={"members": []})
def make_mean_textcat(nlp: Language, name: str, members: list[str]) -> MeanTextcat:
    return MeanTextcat(nlp, name, members)
