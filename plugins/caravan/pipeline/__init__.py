"""The work behind each DAG task: Airflow context in, plain calls to the package out.

DAG files import these inside their tasks, so parsing a DAG stays cheap.
"""
