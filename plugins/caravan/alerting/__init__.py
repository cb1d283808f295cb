"""Caravan's alerts behind `caravan.alerts`: the message (`messages`, pure) and its
delivery through Airflow's notifiers (`notifier`, loaded only when an alert goes out)."""
