"""Enrichment accuracy: the labels Caravan gives the simulator's texts (reviews, issues)
against the labels the simulator wrote them with (its ground truth, never the marts).

    .venv/bin/python bench/assistant/enrichment.py                 # the offline classifier
    .venv/bin/python bench/assistant/enrichment.py --model         # the model at OPENAI_BASE_URL

The texts are the demo's: seed 42, 2026-11-01 for 7 days (`--start`, `--days`, `--seed`).
Per kind of text: sentiment and language accuracy, the first topic among the true ones
(precision@1), and the mean Jaccard overlap of the topic sets. With `--model`, the texts
go through `OpenAILabeller` (batched, structured outputs, validated) without the cache.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta

from caravan.enrichment import offline
from caravan.enrichment.labels import KINDS, Kind, Label, text_of
from caravan.simulator.world import World

Truth = tuple[str, tuple[str, ...], str]  # sentiment, topics, language


def texts(world: World, kind: Kind, days: list[date]) -> dict[str, tuple[str, Truth]]:
    """Each text of the days by id, with the labels the simulator wrote it with."""
    if kind.name == "reviews":
        records = [review for day in days for review in world.reviews_on(day)]
        key = "review_id"
    else:
        records = [issue for day in days for issue in world.issues_created_on(day)]
        key = "number"
    return {
        str(getattr(record, key)): (
            text_of({"title": record.title, "body": record.body}),
            (record.sentiment, tuple(record.topics), record.language),
        )
        for record in records
    }


def score(truth: dict[str, Truth], labels: dict[str, Label]) -> dict[str, float]:
    """Accuracy of the labels given (texts left unlabelled count as wrong)."""
    n = len(truth)
    sentiment = sum(labels[i].sentiment == t[0] for i, t in truth.items() if i in labels)
    language = sum(labels[i].language == t[2] for i, t in truth.items() if i in labels)
    first_topic = sum(
        bool(labels[i].topics) and labels[i].topics[0] in t[1]
        for i, t in truth.items()
        if i in labels
    )
    jaccard = sum(
        len(set(labels[i].topics) & set(t[1])) / len(set(labels[i].topics) | set(t[1]) or {0})
        for i, t in truth.items()
        if i in labels
    )
    return {
        "texts": n,
        "labelled": sum(1 for i in truth if i in labels),
        "sentiment": sentiment / n,
        "language": language / n,
        "topic@1": first_topic / n,
        "topics_jaccard": jaccard / n,
    }


def confusion(truth: dict[str, Truth], labels: dict[str, Label]) -> Counter:
    return Counter((t[0], labels[i].sentiment) for i, t in truth.items() if i in labels)


def offline_labeller(kind: Kind) -> Callable[[Sequence[tuple[str, str]]], dict[str, Label]]:
    return lambda items: {item_id: offline.classify(kind, text) for item_id, text in items}


def model_labeller(kind: Kind) -> Callable[[Sequence[tuple[str, str]]], dict[str, Label]]:
    from caravan.enrichment.model import Budget, OpenAILabeller, client_for
    from caravan.settings import get_settings

    settings = get_settings()
    if settings.language_model is None:
        raise SystemExit("--model needs OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint)")
    labeller = OpenAILabeller(client_for(settings), settings.openai_model, kind)
    return lambda items: labeller.label(list(items), Budget(limit=10**9)).labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model", action="store_true", help="label with the configured model")
    args = parser.parse_args(argv)
    world = World(seed=args.seed)
    days = [args.start + timedelta(days=n) for n in range(args.days)]
    print("| texts | n | labelled | sentiment | language | topic@1 | topics (Jaccard) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in KINDS.values():
        labelled_texts = texts(world, kind, days)
        truth = {i: t for i, (_, t) in labelled_texts.items()}
        label = model_labeller(kind) if args.model else offline_labeller(kind)
        labels = label([(i, text) for i, (text, _) in labelled_texts.items()])
        figures = score(truth, labels)
        print(
            f"| {kind.name} | {figures['texts']} | {figures['labelled']} |"
            f" {figures['sentiment']:.2f} | {figures['language']:.2f} |"
            f" {figures['topic@1']:.2f} | {figures['topics_jaccard']:.2f} |"
        )
        mistakes = {pair: n for pair, n in confusion(truth, labels).items() if pair[0] != pair[1]}
        if mistakes:
            print(f"<!-- {kind.name} sentiment (true, labelled): {mistakes} -->")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
