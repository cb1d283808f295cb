"""Values the stages agree on (DESIGN §3), in one place for the jobs, the gates and the docs."""

# Attribution models, in the order DESIGN lists them.
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
# Marketing channels of a session or a touchpoint; `direct` is also an order with none.
CHANNELS = ("google_ads", "meta_ads", "email", "other", "direct")
ATTRIBUTION_LOOKBACK_DAYS = 30
# How long a visitor may be inactive before the next event starts a new session.
SESSION_TIMEOUT_MINUTES = 30
