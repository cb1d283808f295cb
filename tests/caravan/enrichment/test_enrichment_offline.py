"""The offline classifier on hand-written texts; each expectation is worked out by hand
from the word lists in caravan.enrichment.offline (noted beside each case)."""

from __future__ import annotations

import pytest

from caravan.enrichment.labels import KINDS, Label
from caravan.enrichment.offline import classify

REVIEWS, ISSUES = KINDS["reviews"], KINDS["issues"]


@pytest.mark.parametrize(
    "text, sentiment, topics, language",
    [
        # great(+1) → positive; value, money: price ×2; the, for: en.
        ("Great value for the money, would recommend!", "positive", ("price",), "en"),
        # "not" flips good → -1; stitching, wash*: quality ×2.
        ("Not good. The stitching came apart after one wash.", "negative", ("quality",), "en"),
        # "don't" → "do not": love flipped → -1 (negation).
        ("I don't love this jacket.", "negative", (), "en"),
        # The negation ends at the comma: "bad" stays -1 → negative.
        ("No complaints, the zipper is just bad", "negative", ("quality",), "en"),
        # Mixed: great before "but" (+0.5), late and damaged after it (-1.5 each);
        # delivery, late, box, arrived: shipping 4 > fabric: quality 1.
        (
            "The fabric is great but the delivery was late and the box arrived damaged.",
            "negative",
            ("shipping", "quality"),
            "en",
        ),
        # No polar word → neutral; arrived: shipping.
        ("Arrived on Tuesday.", "neutral", ("shipping",), "en"),
        # German: leider -1×0.5 before "aber", hilfreich +1×1.5 after → +1; Größe, passt,
        # klein… → sizing 2 (größe, passt), Kundenservice: customer_service 1; die, nicht,
        # leider, zu, der, war, aber, sehr: de.
        (
            "Die Größe passt nicht, leider viel zu klein. Der Kundenservice war aber sehr"
            " hilfreich.",
            "positive",
            ("sizing", "customer_service"),
            "de",
        ),
        # German negation: "nicht gut" → -1.
        ("Das Material ist nicht gut.", "negative", ("quality",), "de"),
        # French: retard -1, "pas de bonne" flips bonne → -1; colis: shipping 1, tissu and
        # qualité: quality 2; le, est, et, pas: fr.
        (
            "Le colis est arrivé en retard et le tissu n'est pas de bonne qualité.",
            "negative",
            ("quality", "shipping"),
            "fr",
        ),
        # Spanish: rápido +1, perfecta +1; talla: sizing 1, llegó: shipping 1 (a tie:
        # vocabulary order); el, pedido, llegó, muy, es: es.
        (
            "El pedido llegó muy rápido y la talla es perfecta.",
            "positive",
            ("sizing", "shipping"),
            "es",
        ),
        # Spanish negation: "no es bueno" flips bueno → -1; precio: price.
        ("El precio no es bueno.", "negative", ("price",), "es"),
    ],
)
def test_reviews(text, sentiment, topics, language):
    assert classify(REVIEWS, text) == Label(sentiment, topics, language, "offline")


@pytest.mark.parametrize(
    "text, sentiment, topics",
    [
        # missing -1; campaign, meta: campaigns 2; missing: data_quality 1; dashboard:
        # reporting 1 (ties in vocabulary order).
        (
            "Meta campaign spend missing from the dashboard",
            "negative",
            ("campaigns", "data_quality", "reporting"),
        ),
        # utm, tags, events, tracked: tracking 4; no polar word.
        ("UTM tags dropped on checkout, purchase events not tracked", "neutral", ("tracking",)),
        # attribution, touch, credit: attribution 3 > google: campaigns 1.
        (
            "Last touch attribution gives Google too much credit",
            "neutral",
            ("attribution", "campaigns"),
        ),
    ],
)
def test_issues(text, sentiment, topics):
    assert classify(ISSUES, text) == Label(sentiment, topics, "en", "offline")


def test_rating_is_not_an_input_and_labels_repeat():
    text = "Terrible. Broke after a week."
    first = classify(REVIEWS, text)
    assert first.sentiment == "negative"
    assert classify(REVIEWS, text) == first  # deterministic: no state, no randomness
