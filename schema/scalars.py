"""The custom scalars, documented and each with `@specifiedBy` (docs/scalars.md says what each
accepts and answers): `DateTime`, `Decimal`, `JSON` and `Upload`, handed to the schema as
`StrawberryConfig.scalar_map` (schema/__init__.py). `DateTime`, `JSON` and `Upload` keep
Strawberry's own coercion; `Decimal` is the money string of docs/scalars.md."""

from __future__ import annotations

import datetime as dt
import decimal
import re

from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY
from strawberry.types.scalar import ScalarDefinition, ScalarWrapper

DATETIME_SPEC_URL = "https://scalars.graphql.org/andimarek/date-time"
# docs/scalars.md, at the repository's public address (the one place to change if it moves)
DECIMAL_SPEC_URL = "https://github.com/iven-app/iven-gql/blob/main/docs/scalars.md#decimal"
JSON_SPEC_URL = (
    "https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf"
)
UPLOAD_SPEC_URL = "https://github.com/jaydenseric/graphql-multipart-request-spec"

# docs/scalars.md#decimal: an optional minus, digits without a leading zero, optional decimals
DECIMAL_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
DECIMAL_MAX_LENGTH = 40


def _definition(of: object) -> ScalarDefinition:
    found = DEFAULT_SCALAR_REGISTRY[of]
    return found._scalar_definition if isinstance(found, ScalarWrapper) else found


def _serialize_datetime(value: dt.datetime) -> str:
    """ISO-8601 with its offset; a naive time (none should reach here) is the stores' UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _serialize_decimal(value: decimal.Decimal | int | str) -> str:
    """Plain notation, never an exponent (`format(…, "f")`): Decimal("1E+2") → "100"."""
    number = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"Decimal cannot represent {value!r}.")
    return format(number, "f")


def _parse_decimal(value: object) -> decimal.Decimal:
    if (
        not isinstance(value, str)
        or len(value) > DECIMAL_MAX_LENGTH
        or DECIMAL_RE.fullmatch(value) is None
    ):
        raise StrawberryInputCoercionError(
            'Decimal must be a string of digits with an optional "-" and decimal point, '
            'such as "12.50" (no exponent, no "+", at most 40 characters).'
        )
    return decimal.Decimal(value)


_datetime = DateTimeDefinition
_json = _definition(JSON)
_upload = _definition(Upload)

SCALARS: dict[object, ScalarDefinition] = {
    dt.datetime: ScalarDefinition(
        name="DateTime",
        description=(
            "A point in time: an RFC 3339 / ISO-8601 date and time with its UTC offset, such as "
            '"2030-06-01T12:00:00+02:00" or "2030-06-01T10:00:00Z" (fractions of a second '
            "allowed). The server answers in UTC (`+00:00`); a value sent without an offset is "
            "refused by the field that takes it (its payload error names the field)."
        ),
        specified_by_url=DATETIME_SPEC_URL,
        serialize=_serialize_datetime,
        parse_value=_datetime.parse_value,
        parse_literal=_datetime.parse_literal,
        origin=dt.datetime,
    ),
    decimal.Decimal: ScalarDefinition(
        name="Decimal",
        description=(
            'An exact decimal number as a string, such as "12.50" or "-3.05": an optional '
            '"-", digits, and an optional "." with digits; no exponent, no "+", no grouping, '
            "at most 40 characters. Never a JSON number (floats lose cents). A money amount "
            "has exactly its currency's decimals (2 for EUR, 0 for JPY)."
        ),
        specified_by_url=DECIMAL_SPEC_URL,
        serialize=_serialize_decimal,
        parse_value=_parse_decimal,
        parse_literal=None,
        origin=decimal.Decimal,
    ),
    JSON: ScalarDefinition(
        name="JSON",
        description=(
            "Any JSON value (ECMA-404): an object, array, string, number, boolean or null. "
            "Fields of this type say which shape they carry."
        ),
        specified_by_url=JSON_SPEC_URL,
        serialize=_json.serialize,
        parse_value=_json.parse_value,
        parse_literal=_json.parse_literal,
    ),
    Upload: ScalarDefinition(
        name="Upload",
        description=(
            "A file sent with the request as a part of a multipart/form-data body, following "
            "the GraphQL multipart request spec (what apollo-upload-client and urql send): in "
            "the variables, put null where the file goes and map it to its part. Input only; "
            "uploads also need an `x-iven-csrf` (any value) or `Apollo-Require-Preflight` header."
        ),
        specified_by_url=UPLOAD_SPEC_URL,
        serialize=_upload.serialize,
        parse_value=_upload.parse_value,
        parse_literal=_upload.parse_literal,
    ),
}
