"""Caravan: Airflow-centric batch ELT for marketing and sales data."""

__version__ = "0.1.0"
