"""A property-based fuzzer over the service's published OpenAPI description (schemathesis).

The real app (ASGI, no server) over a filled GeoPackage store (a field-checked burned
patch with the crew's answer among them), called with an
ecologist's token (the role that reaches the most endpoints): for every operation,
generated requests (valid and invalid) must never get a 5xx, and every answer must have
a status code the spec declares, a declared content type and a body that conforms to
the declared schema. Bounded and derandomised so it is quick and does not flake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.service import ServiceHome, bearer, fill_with_answers, make_home
from tiandi.service.app import create_app

#: Generated requests per generation mode, spread over every operation.
EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory) -> ServiceHome:
    # a burned patch with the crew's burn severity: answers are checked against the spec too
    return make_home(Path(tmp_path_factory.mktemp("fuzz")), fill_with_answers)


@pytest.fixture(scope="module")
def api_schema(fuzz_home: ServiceHome) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_home.settings))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_holds_to_its_openapi_description(
    api_schema: Any, fuzz_home: ServiceHome, mode: GenerationMode
) -> None:
    token = bearer(fuzz_home.tokens["ecologist"])

    @given(case=api_schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=token, checks=CHECKS)

    fuzz()
