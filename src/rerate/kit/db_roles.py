"""PostgreSQL roles: the owner runs migrations, the application role only uses the tables.

A table's owner can TRUNCATE it, ALTER it and DISABLE its triggers, and no
privilege takes that away; the triggers that make `audit_log` append-only and
freeze issued invoices therefore only bind a role that does not own the
tables. `grant_app_role` gives such a role exactly what the application needs:
read and write on every table except `audit_log` (SELECT and INSERT only) and
`alembic_version` (SELECT only), and the sequences behind the ids. It is
idempotent: run it again after each `rerate db upgrade`, which may add tables.
See docs/operations.md, "Database roles".
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

from rerate.kit.errors import Invalid

_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Tables the application may read but only append to, or not change at all.
APPEND_ONLY = ("audit_log",)
READ_ONLY = ("alembic_version",)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _literal(conn: Connection, value: str) -> str:
    # DDL takes no bind parameters: let the driver quote the literal.
    from psycopg import sql

    raw = conn.connection.dbapi_connection
    return sql.Literal(value).as_string(raw)  # type: ignore[arg-type]


def grant_app_role(conn: Connection, role: str, *, password: str | None = None) -> list[str]:
    """Create `role` (LOGIN) if missing and set its privileges; return the statements run.

    `conn` must belong to the tables' owner (the role migrations run as). The
    caller commits.
    """
    if conn.dialect.name != "postgresql":
        raise Invalid("database roles are a PostgreSQL feature; SQLite has no roles")
    if not _ROLE_RE.match(role):
        raise Invalid(f"role name must match {_ROLE_RE.pattern}, got {role!r}")
    me = conn.scalar(text("SELECT current_user"))
    if role == me:
        raise Invalid(
            f"{role} is the role running this command (the owner); the application "
            "role must be a different one"
        )
    attributes = conn.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).first()
    if attributes is not None and attributes[0]:
        raise Invalid(f"{role} is a superuser: it bypasses every privilege and trigger guard")
    schema = conn.scalar(text("SELECT current_schema()"))
    owned = conn.scalar(
        text("SELECT count(*) FROM pg_tables WHERE schemaname = :s AND tableowner = :r"),
        {"s": schema, "r": role},
    )
    if owned:
        raise Invalid(
            f"{role} owns {owned} table(s) in {schema}: an owner can truncate and alter them; "
            "run the migrations as another role, then grant this one"
        )
    r, s = _quote(conn, role), _quote(conn, str(schema))
    database = _quote(conn, str(conn.scalar(text("SELECT current_database()"))))
    statements: list[str] = []
    if attributes is None:
        create = f"CREATE ROLE {r} LOGIN"
        statements.append(create + (f" PASSWORD {_literal(conn, password)}" if password else ""))
    elif password:
        statements.append(f"ALTER ROLE {r} PASSWORD {_literal(conn, password)}")
    statements += [
        f"GRANT CONNECT ON DATABASE {database} TO {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        # Start from nothing, so a second run also takes away what an older
        # grant (or a hand-made one) gave too much of.
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
    ]
    existing = set(
        conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema})
    )
    for tables, verbs in ((APPEND_ONLY, "UPDATE, DELETE"), (READ_ONLY, "INSERT, UPDATE, DELETE")):
        for table in (t for t in tables if t in existing):
            statements.append(f"REVOKE {verbs} ON {s}.{_quote(conn, table)} FROM {r}")
    for statement in statements:
        # Not text(): a password may contain ":name", which text() would bind.
        conn.exec_driver_sql(statement)
    return [
        _PASSWORD_RE.sub("PASSWORD '***'", statement) for statement in statements
    ]  # for the operator's log: never echo the password


_PASSWORD_RE = re.compile(r"PASSWORD '(?:[^']|'')*'")
