"""The person directory: list and search with paging, fetch, create."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, or_, select

from udaconnect.contracts.api import NewPerson, Person, PersonDetail, PersonQuery
from udaconnect.errors import NotFound
from udaconnect.storage.tables import location, person

_COLUMNS = (person.c.id, person.c.first_name, person.c.last_name, person.c.company_name)


def _matching(query: PersonQuery) -> Any:
    if not query.q:
        return None
    pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    full_name = person.c.first_name + " " + person.c.last_name
    return or_(full_name.ilike(pattern), person.c.company_name.ilike(pattern), person.c.last_name.ilike(pattern))


def list_persons(conn: Connection, query: PersonQuery) -> tuple[list[Person], int]:
    """One page of persons ordered by id, and how many match in all."""
    condition = _matching(query)
    statement = select(*_COLUMNS).order_by(person.c.id).offset(query.offset).limit(query.limit)
    counting = select(func.count()).select_from(person)
    if condition is not None:
        statement, counting = statement.where(condition), counting.where(condition)
    rows = conn.execute(statement).all()
    total = conn.execute(counting).scalar_one()
    return [Person.model_validate(row._mapping) for row in rows], int(total)


def get_person(conn: Connection, person_id: int) -> PersonDetail:
    """The person, with the first and last believed fix (two probes of location's (person_id, creation_time))."""
    row = conn.execute(select(*_COLUMNS).where(person.c.id == person_id)).first()
    if row is None:
        raise NotFound(f"person {person_id} does not exist")
    mine = location.c.person_id == person_id
    first = select(location.c.creation_time).where(mine).order_by(location.c.creation_time).limit(1)
    last = select(location.c.creation_time).where(mine).order_by(location.c.creation_time.desc()).limit(1)
    seen = conn.execute(select(first.scalar_subquery().label("first_seen"),
                               last.scalar_subquery().label("last_seen"))).one()
    return PersonDetail.model_validate({**row._mapping, **seen._mapping})


def person_exists(conn: Connection, person_id: int) -> bool:
    return conn.execute(select(person.c.id).where(person.c.id == person_id)).first() is not None


def create_person(conn: Connection, new: NewPerson) -> Person:
    row = conn.execute(insert(person).values(**new.model_dump()).returning(*_COLUMNS)).one()
    return Person.model_validate(row._mapping)
