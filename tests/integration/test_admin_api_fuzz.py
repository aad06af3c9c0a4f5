"""schemathesis over the admin API's OpenAPI document: no 500, whatever the request.

Driven through hypothesis directly (one run per operation): schemathesis' pytest plugin does
not yet support this pytest.
"""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.helpers import bearer

HANS = "SE2321000131-P000000001008"  # an administrator, so that requests get past authorization


def test_the_admin_api_answers_every_generated_request_without_a_500(app, sandbox):
    schema = schemathesis.openapi.from_wsgi("/admin/openapi.json", app)
    headers = bearer(app, hsa_id=HANS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    calls = []

    for operation in operations:
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(headers=headers)
            calls.append(response.status_code)
            case.validate_response(response, checks=(not_a_server_error,))

        run()
    assert len(calls) > 5 * len(operations)  # the generated requests really were sent
