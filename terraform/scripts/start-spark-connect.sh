#!/usr/bin/env bash
# Dataproc initialization action (terraform/dataproc.tf): on the master only, run Spark's
# Connect server on YARN as a systemd service, so that Caravan's tasks reach it with
# CARAVAN_SPARK_REMOTE=sc://<cluster>-m.<zone>.c.<project>.internal:15002. A service, not a
# background process: initialization actions may run before YARN is up, and systemd starts
# it after YARN and again after a reboot.
set -euo pipefail

role="$(/usr/share/google/get_metadata_value attributes/dataproc-role)"
if [[ "${role}" != "Master" ]]; then
  exit 0
fi

# Spark 4 ships the Connect server's jar; Spark 3.5 fetches it as a package (needs egress
# to Maven Central, e.g. Cloud NAT).
spark_version="$(ls /usr/lib/spark/jars/spark-core_*.jar | sed -E 's/.*spark-core_([0-9.]+)-([0-9][0-9.]*)\.jar/\2/')"
scala_version="$(ls /usr/lib/spark/jars/spark-core_*.jar | sed -E 's/.*spark-core_([0-9.]+)-.*/\1/')"
packages=""
if ! ls /usr/lib/spark/jars/spark-connect_*.jar >/dev/null 2>&1; then
  packages="--packages org.apache.spark:spark-connect_${scala_version}:${spark_version}"
fi

cat >/etc/systemd/system/spark-connect.service <<UNIT
[Unit]
Description=Spark Connect server for Caravan
After=hadoop-yarn-resourcemanager.service
Wants=hadoop-yarn-resourcemanager.service

[Service]
Type=forking
User=spark
ExecStart=/usr/lib/spark/sbin/start-connect-server.sh --master yarn ${packages} --conf spark.connect.grpc.binding.port=15002
ExecStop=/usr/lib/spark/sbin/stop-connect-server.sh
Restart=on-failure
RestartSec=30

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable --now spark-connect.service
