# Caravan's image for the team server (docker-compose.yml, docs/deploy.md): Airflow's
# official image of the version requirements.txt pins, with Java for Spark and Caravan's
# pinned dependencies and code. The Python version is the project's (pyproject.toml).
FROM apache/airflow:3.3.2-python3.11

USER root
# Java 17 for PySpark's local[*] (Spark's driver is a JVM); Spark finds `java` on PATH.
# The official image is Debian bookworm, whose openjdk-17 this is.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
# Folders that docker-compose.yml mounts named volumes on: a new volume starts with the
# image's ownership, group 0 writable, so the containers' user (any uid, gid 0) can write.
# The secrets folder (the UI's passwords) is closed to everyone else.
RUN mkdir -p /opt/caravan/home /opt/airflow/secrets \
    && chown -R airflow:0 /opt/caravan /opt/airflow/secrets \
    && chmod 775 /opt/caravan /opt/caravan/home \
    && chmod 770 /opt/airflow/secrets
USER airflow

WORKDIR /opt/caravan
# The pinned set first, so a change to Caravan's code does not reinstall it. It pins
# apache-airflow==3.3.2, the image's own version, and was resolved with it (uv pip
# compile), so pip keeps the Airflow the image ships: the lock plays the part of Airflow's
# constraints file.
COPY --chown=airflow:0 requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# Caravan baked in: DAGs, the caravan package, Spark jobs, the dbt project. An editable
# install (rather than PYTHONPATH) gives the `caravan` command and imports the package
# from this folder, the checkout layout settings.py expects; its dependencies are above.
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 plugins/ plugins/
COPY --chown=airflow:0 spark_jobs/ spark_jobs/
COPY --chown=airflow:0 dags/ dags/
COPY --chown=airflow:0 dbt_project/ dbt_project/
RUN pip install --no-cache-dir --no-deps -e .
