"""checkov over terraform/ (its Terraform framework only): no failed check, every file
parsed, and each skip is one written beside its resource with a reason."""

from __future__ import annotations

import json
import re

import pytest
from tf_support import CHECKOV, ROOT, TERRAFORM_DIR, missing_tool, run

# The skips written in terraform/*.tf, resource by resource, worked out when they were made.
EXPECTED_SKIPS = {
    ("CKV_GCP_62", "google_storage_bucket.lake"),
    ("CKV_GCP_62", "google_storage_bucket.dataproc_staging"),
    ("CKV_GCP_81", "google_bigquery_dataset.main"),
    ("CKV_GCP_91", "google_dataproc_cluster.main"),
}
SKIP_COMMENT = re.compile(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def report() -> dict:
    if not CHECKOV.exists():
        missing_tool("checkov", "run `make tools` (it installs into .tools/checkov)")
    # --skip-download: no call to Prisma Cloud for policies or guidelines (offline, and faster).
    done = run(
        [
            str(CHECKOV),
            "--directory",
            "terraform",
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        ROOT,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return json.loads(done.stdout)


def test_no_failed_check_and_every_file_parsed(report):
    summary = report["summary"]
    failed = [
        (c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert summary["failed"] == 0
    assert summary["parsing_errors"] == 0, report["results"].get("parsing_errors")
    # 20 and more checks ran (21 with checkov 3.3.30): the resources were seen at all.
    assert summary["passed"] >= 20


def test_public_access_checks_passed_on_both_buckets(report):
    passed = {(c["check_id"], c["resource"]) for c in report["results"]["passed_checks"]}
    for bucket in ("google_storage_bucket.lake", "google_storage_bucket.dataproc_staging"):
        assert ("CKV_GCP_114", bucket) in passed  # public access prevention enforced
        assert ("CKV_GCP_29", bucket) in passed  # uniform bucket-level access
    assert ("CKV_GCP_49", "google_project_iam_member.main") in passed  # no role on default SA


def test_skips_are_the_inline_ones_with_reasons(report):
    skipped = {(c["check_id"], c["resource"]) for c in report["results"]["skipped_checks"]}
    assert skipped == EXPECTED_SKIPS
    comments = [
        (check, reason.strip())
        for path in TERRAFORM_DIR.rglob("*.tf")
        for check, reason in SKIP_COMMENT.findall(path.read_text())
    ]
    assert sorted(check for check, _ in comments) == sorted(check for check, _ in EXPECTED_SKIPS)
    assert all(len(reason) > 30 for _, reason in comments), comments
