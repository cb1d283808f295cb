"""The offline classifier: labels from word lists, deterministic, local, nothing downloaded.

It labels the text only (a review's rating is not an input: the marts compare the two).
- language: the most stopwords of en, de, fr, es (English when none or a tie with it);
- sentiment: polarity words of the four languages, each flipped when a negation stands
  within the three words before it ("not good", "nicht gut", "pas bon", "no es bueno");
  after a contrast ("but", "aber", "mais", "pero") words count 1.5 times, before it 0.5
  times (the clause after a "but" is what the writer means); > 0 positive, < 0 negative;
- topics: keyword families per topic (a trailing `*` matches any ending), ordered by how
  many words of each family appear, ties in vocabulary order.

Good enough to run the chain offline and to show which rows a model did not label; the
bench measures its accuracy against the simulator's ground truth.
"""

from __future__ import annotations

import re
import unicodedata

from caravan.enrichment.labels import OFFLINE, Kind, Label

# The rows' prompt_version for offline labels: bump when the word lists or rules change.
VERSION = "offline-2026-12-04.1"

STOPWORDS = {
    "en": frozenset(
        "the and is was this that it to of for with my but very they are have not too i you"
        " on at after were be an its had has would just".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ein eine sehr zu mit ich war aber für auf den dem nach auch"
        " wie noch kein keine wurde hat leider nur zum im".split()
    ),
    "fr": frozenset(
        "le les et est pas une très des du pour avec je ce mais trop il elle sont au ne cette"
        " était qui mon ma sur été bien".split()
    ),
    "es": frozenset(
        "el los las y muy una con para pero por del está fue lo se mi es demasiado llegó al"
        " estaba pedido también".split()
    ),
}
# Checked in this order, so a tie goes to the first.
LANGUAGE_ORDER = ("en", "de", "fr", "es")

POSITIVE = frozenset(
    """good great excellent love loved lovely perfect perfectly happy amazing awesome nice
    recommend recommended comfortable fantastic best beautiful fast quick helpful works
    solved fixed resolved thanks glad pleased satisfied friendly
    gut super toll perfekt schön schnell zufrieden empfehlen empfehlenswert bequem
    hervorragend prima danke gelöst hilfreich freundlich
    bon bonne bien excellent parfait parfaite rapide content contente satisfait satisfaite
    recommande génial super merci belle beau aimable utile
    bueno buena excelente perfecto perfecta rápido rápida contento contenta encanta
    recomiendo genial bonito bonita gracias amable útil""".split()
)
NEGATIVE = frozenset(
    """bad poor terrible awful horrible worst broke broken disappointed disappointing
    disappointment late slow wrong damaged defective cheaply ripped torn useless hate
    problem problems issue fails failed failing failure error errors missing rude never
    refund complaint unhappy unacceptable annoying
    schlecht kaputt enttäuscht enttäuschend langsam falsch beschädigt defekt spät
    verspätet fehlt fehler leider
    mauvais mauvaise cassé cassée déçu déçue décevant lent lente abîmé défectueux retard
    erreur horrible
    malo mala roto rota decepcionado decepcionada lento lenta tarde dañado defectuoso
    error terrible horrible""".split()
)
NEGATIONS = frozenset(
    "not no never nothing nobody nicht kein keine keinen nie niemals pas jamais ni nunca"
    " tampoco sin".split()
)
CONTRASTS = frozenset("but however although aber jedoch mais pourtant pero aunque".split())
NEGATION_REACH = 3  # words after a negation that it flips (within its clause)
CLAUSE_ENDS = frozenset(".,;:!?")

TOPIC_WORDS = {
    "quality": """quality material* fabric stitch* seam* broke broken torn ripped durable
        sturdy flimsy faded fade* defect* cheaply wash* zipper* sole*
        qualität stoff naht kaputt qualité tissu couture cassé* calidad tela costura roto*""",
    "sizing": """size* sizing fit fits fitted fitting small smaller large larger tight loose
        big long short narrow wide größe größer kleiner passt eng weit taille petit* grand*
        serré* talla pequeñ* grande* ajust*""",
    "shipping": """shipping shipped ship delivery delivered deliver arrive* arrival late
        package parcel courier tracking box transit lieferung geliefert versand paket
        livraison livré* colis envío envio entrega llegó paquete""",
    "price": """price* pricing expensive cheap cheaper value money worth deal discount*
        overpriced cost* preis* teuer günstig geld prix cher chère précio precio* caro
        barato dinero""",
    "customer_service": """support service refund* return* exchange* staff agent reply
        replied answer* email* contact* helpdesk kundenservice rückerstattung umtausch
        antwort remboursement retour* sav atención reembolso devolución respuesta""",
    "campaigns": """campaign* ad ads adset* advert* creative* bid* budget* audience*
        google meta facebook kampagne* campagne* campaña*""",
    "tracking": """tracking tracked track pixel* tag tags utm gtm ga4 analytics cookie*
        consent event events session* sessions""",
    "data_quality": """duplicate* dedup* missing null nulls wrong mismatch* incorrect stale
        schema malformed inconsistent discrepanc* quality corrupt* gap* doubled""",
    "attribution": """attribution attributed attribute* touchpoint* touch lookback roas
        credit* multi first_touch last_touch""",
    "reporting": """report* dashboard* chart* kpi* metric* export* weekly monthly looker
        figures numbers""",
}


def _families() -> dict[str, tuple[frozenset[str], tuple[str, ...]]]:
    """Topic → (exact words, prefixes)."""
    families = {}
    for topic, words in TOPIC_WORDS.items():
        listed = words.split()
        exact = frozenset(word for word in listed if not word.endswith("*"))
        prefixes = tuple(word[:-1] for word in listed if word.endswith("*"))
        families[topic] = (exact, prefixes)
    return families


FAMILIES = _families()


def words(text: str) -> list[str]:
    """Lower-case words and clause punctuation (where a negation's reach ends); "n't"
    becomes "not" and an elision (l', n', d') its own word."""
    text = unicodedata.normalize("NFC", text.lower()).replace("’", "'")
    text = re.sub(r"n't\b", " not", text)
    text = re.sub(r"\b([a-z])'", r"\1 ", text)
    return re.findall(r"[^\W_]+|[.,;:!?]", text)


def language_of(tokens: list[str]) -> str:
    counts = {lang: sum(token in STOPWORDS[lang] for token in tokens) for lang in LANGUAGE_ORDER}
    best = max(LANGUAGE_ORDER, key=lambda lang: counts[lang])  # first of the tied
    return best if counts[best] else "en"


def sentiment_score(tokens: list[str]) -> float:
    """Sum of word polarities, flipped after a negation, weighted around a contrast."""
    contrast_at = max((i for i, token in enumerate(tokens) if token in CONTRASTS), default=None)
    score = 0.0
    negated_until = -1
    for i, token in enumerate(tokens):
        if token in NEGATIONS:
            negated_until = i + NEGATION_REACH
            continue
        if token in CLAUSE_ENDS:
            negated_until = -1
            continue
        polarity = (token in POSITIVE) - (token in NEGATIVE)
        if not polarity:
            continue
        if i <= negated_until:
            polarity = -polarity
        if contrast_at is not None:
            polarity *= 0.5 if i < contrast_at else 1.5
        score += polarity
    return score


def sentiment_of(tokens: list[str]) -> str:
    score = sentiment_score(tokens)
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def topics_of(kind: Kind, tokens: list[str]) -> tuple[str, ...]:
    counts = {}
    for topic in kind.topics:
        exact, prefixes = FAMILIES[topic]
        counts[topic] = sum(token in exact or token.startswith(prefixes) for token in tokens)
    found = [topic for topic in kind.topics if counts[topic]]
    return tuple(sorted(found, key=lambda topic: -counts[topic]))  # stable: vocabulary order


def classify(kind: Kind, text: str) -> Label:
    tokens = words(text)
    return Label(
        sentiment=sentiment_of(tokens),
        topics=topics_of(kind, tokens),
        language=language_of(tokens),
        labelled_by=OFFLINE,
    )
