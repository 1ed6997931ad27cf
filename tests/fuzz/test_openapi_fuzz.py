"""Schemathesis against the API's own /openapi.json: every operation, with an admin key
and with a channel key, fed generated and hostile input. No answer may be a 5xx, and every
answer must match the status codes, content type and schema the document gives for it."""
from __future__ import annotations

import os

import pytest
import schemathesis
from schemathesis import checks
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.slow

# What must hold for every answer. Not positive_data_acceptance: a request the document
# allows may still name a sku or a campaign that does not exist, or break a rule between
# fields, and the API answers those 422 with the field named, as documented.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance,
          checks.negative_data_rejection]
# Examples per operation and key: 25 in `make test` (about half a minute for both keys),
# more where PROMO_FUZZ_EXAMPLES says (.ci/run asks for 100).
EXAMPLES = int(os.environ.get("PROMO_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def fuzz_every_operation(app, headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures = []
    operations = 0
    for found in schema.get_all_operations():
        operation = found.ok()
        operations += 1

        @FUZZ
        @given(case=operation.as_strategy())
        def answers_as_documented(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            answers_as_documented()
        except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - every operation's is reported
            failures.append(f"{operation.label}: {failure}")
    assert operations > 50
    assert not failures, "\n\n".join(failures)


def test_every_operation_answers_an_admin_as_documented(app, headers_for):
    fuzz_every_operation(app, headers_for("admin"))


def test_every_operation_answers_a_channel_key_as_documented(app, headers_for):
    fuzz_every_operation(app, headers_for("channel"))
