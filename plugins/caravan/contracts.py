"""Values the stages agree on (DESIGN §3), in one place for the jobs, the gates and the docs."""

# Attribution models, in the order DESIGN lists them.
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
# Marketing channels of a session or a touchpoint; `direct` is also an order with none.
CHANNELS = ("google_ads", "meta_ads", "email", "other", "direct")
ATTRIBUTION_LOOKBACK_DAYS = 30
# How long a visitor may be inactive before the next event starts a new session.
SESSION_TIMEOUT_MINUTES = 30
# What the `enrich` DAG says of a text (caravan.enrichment), and what the marts accept.
SENTIMENTS = ("positive", "neutral", "negative")
REVIEW_TOPICS = ("quality", "sizing", "shipping", "price", "customer_service")
ISSUE_TOPICS = ("campaigns", "tracking", "data_quality", "attribution", "reporting")
