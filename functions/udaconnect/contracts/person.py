"""A person on the wire: the API's NewPerson and Person, also the payload of person.created events.

Its own module so that the event contracts (ingest, persist) load without the rest of the API's models.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from udaconnect.contracts.text import printable


def _printable(value: str) -> str:
    """No control characters: PostgreSQL cannot store NUL, and the others are never part of a name."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    return value


Printable = AfterValidator(_printable)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable,
                 # the rules above as one pattern: maxLength would count the whitespace the model trims
                 WithJsonSchema({"type": "string", "pattern": printable(200, min_length=1)}),
                 Field(description="1 to 200 characters once surrounding whitespace is trimmed; no control "
                                   "characters.")]


class Model(BaseModel):
    """Every API model: unknown fields are refused, values never change after validation. Each is built on
    first use (defer_build), so a process pays only for the models it uses: ingest and persist use none."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class NewPerson(Model):
    """A person to create."""

    first_name: Name = Field(examples=["Taco"])
    last_name: Name = Field(examples=["Fargo"])
    company_name: Name = Field(examples=["Alpha Omega Upholstery"])


class Person(Model):
    """A conference attendee."""

    id: int = Field(examples=[5])
    first_name: str = Field(examples=["Taco"])
    last_name: str = Field(examples=["Fargo"])
    company_name: str = Field(examples=["Alpha Omega Upholstery"])
