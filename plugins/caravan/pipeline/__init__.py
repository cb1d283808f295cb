"""The work behind each DAG task: plain functions of `ds` (or dates), a run id and what
else they need, and a `TaskRef` where a gate's warning alert names its task.

The DAG files read Airflow's context (`caravan.task_context`) and call these inside their
tasks, so parsing a DAG stays cheap and tests call the steps without Airflow. (The
spark-submit operator in `spark_submit.py` is an Airflow operator, the one exception.)
"""
