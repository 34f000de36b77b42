#!/usr/bin/python3
"""
Drives the real Flask-Security 5.1.2 (Debian's python3-flask-security) for the interop suite: one process per
scenario, JSON on stdout. Run with /usr/bin/python3 (Debian's packages).

    flask_driver.py make --version v2 --url URL [--token-uniquifier] [--extra-column] [--traps]
        create the tables with Flask-Security's own fsqla models, fill them through its datastore, then report
    flask_driver.py read --version v2 --url URL [--token-uniquifier] [--extra-column] [--create-user EMAIL]
        report what Flask-Security sees in a database someone else made; --create-user then adds a user

--token-uniquifier adds the one line an app sharing the tables with typeorm-security-models V2+ puts in its
User model:  fs_token_uniquifier = Column(String(64), unique=True, nullable=False)
--extra-column adds an app column of its own (name varchar(80)), as real apps do.
--traps then writes what Flask-Security's schema allows and typeorm-security-models' refuses: a duplicate
role link, a link with a NULL user, a permission list with spaces, and (SQLite, no foreign keys) a link to
a user that does not exist.

The report: every role and user as Flask-Security reads them (datetimes as ISO text with microseconds), each
user's has_role / has_permission for every role and permission, and which user Flask-Security finds by
email (as stored, upper- and lower-cased, also through lookup_identity), by fs_uniquifier, and by auth token.
"""

import argparse
import datetime
import json
import sys
import uuid
import warnings

# 5.1.2 warns that us_phone_number is not an identity attribute when unified sign in enables sms.
warnings.filterwarnings("ignore", message=".*not configured in SECURITY_USER_IDENTITY")

from flask import Flask  # noqa: E402
from flask_sqlalchemy import SQLAlchemy  # noqa: E402
from sqlalchemy import inspect, text  # noqa: E402

MODELS = {"v1": "flask_security.models.fsqla", "v2": "flask_security.models.fsqla_v2", "v3": "flask_security.models.fsqla_v3"}

# Naive UTC, as Flask-Security itself uses (datetime.utcnow()).
CONFIRMED = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456)
LAST_LOGIN = datetime.datetime(2024, 2, 3, 4, 5, 6)
CURRENT_LOGIN = datetime.datetime(2024, 3, 4, 5, 6, 7, 654321)


def sqlalchemy_url(url):
    """SQLAlchemy 1.4 wants postgresql:// and an explicit MySQL driver."""
    for prefix, replacement in (("postgres://", "postgresql://"), ("mariadb://", "mysql+pymysql://"), ("mysql://", "mysql+pymysql://")):
        if url.startswith(prefix):
            return replacement + url[len(prefix):]
    return url


def build(args):
    """A Flask app with Flask-Security's fsqla models of args.version, as its quickstart builds one."""
    import importlib

    from flask_security import Security, SQLAlchemyUserDatastore

    module = importlib.import_module(MODELS[args.version])
    app = Flask("interop")
    app.config.update(
        SQLALCHEMY_DATABASE_URI=sqlalchemy_url(args.url),
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        SECRET_KEY="interop-secret-key-not-for-production",
        SECURITY_PASSWORD_SALT="interop-password-salt-not-for-production",
        SECURITY_EMAIL_VALIDATOR_ARGS={"check_deliverability": False},  # no DNS here
        SECURITY_TRACKABLE=True,
        SECURITY_TWO_FACTOR=True,
        SECURITY_TOTP_SECRETS={"1": "interop-totp-secret-not-for-production"},
        SECURITY_TOTP_ISSUER="interop",
        SECURITY_UNIFIED_SIGNIN=args.version != "v1",
    )
    db = SQLAlchemy(app)
    module.FsModels.set_db_info(db)

    class Role(db.Model, module.FsRoleMixin):
        __tablename__ = "role"

    attrs = {"__tablename__": "user"}
    if args.token_uniquifier:
        # The line the README tells a Flask-Security app to add when it shares the tables with V2+.
        attrs["fs_token_uniquifier"] = db.Column(db.String(64), unique=True, nullable=False)
    if args.extra_column:
        attrs["name"] = db.Column(db.String(80))
    WebAuthn = None
    if args.version == "v3":
        # fsqla_v3 declares User.webauthn only when the webauthn package imports (Debian has none).
        if "webauthn" not in dir(module.FsUserMixin):
            attrs["webauthn"] = db.relationship("WebAuthn", backref="users", cascade="all, delete")

        class WebAuthn(db.Model, module.FsWebAuthnMixin):  # noqa: F811
            __tablename__ = "web_authn"

    User = type("User", (db.Model, module.FsUserMixin), attrs)
    datastore = SQLAlchemyUserDatastore(db, User, Role, WebAuthn)
    Security(app, datastore, register_blueprint=False)
    return app, db, User, Role, datastore


def make(args, app, db, User, Role, ds):
    from flask_security import hash_password
    from flask_security.proxies import _security

    db.create_all()
    hashed = hash_password("interop-password")  # one bcrypt for all: passwords are another suite's subject
    ds.create_role(name="admin", description="Administrator", permissions="full-read, full-write, super")
    ds.create_role(name="editor", description="Editor", permissions="full-read, full-write")
    ds.create_role(name="reader", permissions="full-read")
    ds.create_role(name="nobody", permissions=[])
    db.session.commit()
    extra = {"name": "Alice A."} if args.extra_column else {}
    alice = ds.create_user(email="alice@example.com", username="alice", password=hashed, roles=["admin"], confirmed_at=CONFIRMED, **extra)
    ds.create_user(
        email="Bob.Mixed@Example.com", password=hashed, roles=["editor"], confirmed_at=CONFIRMED,
        last_login_at=LAST_LOGIN, current_login_at=CURRENT_LOGIN, last_login_ip="192.0.2.10",
        current_login_ip="2001:db8::1", login_count=7,
    )
    carol = ds.create_user(email="carol@example.com", password=hashed, roles=["reader"])
    dave = ds.create_user(email="dave@example.com", username="dave", password=hashed, roles=["editor"])
    eve = ds.create_user(email="eve@example.com", password=None if args.version == "v3" else hashed, active=False)
    db.session.commit()
    ds.add_role_to_user(dave, "reader")
    ds.add_role_to_user(eve, "nobody")
    ds.tf_set(carol, "authenticator", totp_secret=_security._totp_factory.generate_totp_secret(), phone="+16505550101")
    if args.version != "v1":
        ds.us_set(dave, "sms", totp_secret=_security._totp_factory.generate_totp_secret(), phone="+16505550102")
    if args.version == "v3":
        _security._mf_recovery_codes_util.create_recovery_codes(alice)
        ds.create_webauthn(
            alice, credential_id=bytes(range(1, 33)), public_key=b"\xa5\x01\x02\x03\x26" + bytes(range(64)),
            name="alice-key", sign_count=3, usage="first", device_type="single_device", backup_state=False,
            transports=["usb", "nfc"], extensions='{"credProps": {"rk": true}}',
        )
    db.session.commit()
    if args.traps:
        ids = {u.email: u.id for u in User.query.all()}
        roles = {r.name: r.id for r in Role.query.all()}
        links = [(ids["alice@example.com"], roles["admin"]), (None, roles["reader"])]
        if db.engine.dialect.name == "sqlite":
            links.append((9999, roles["reader"]))
        for user_id, role_id in links:
            db.session.execute(text("INSERT INTO roles_users (user_id, role_id) VALUES (:u, :r)"), {"u": user_id, "r": role_id})
        db.session.execute(text("UPDATE role SET permissions = 'full-read, full-write' WHERE name = 'editor'"))
        db.session.commit()


def iso(value):
    return value.isoformat() if isinstance(value, datetime.datetime) else value


def report(args, app, db, User, Role, ds):
    from flask import request
    from flask_security.core import _request_loader
    from flask_security.utils import lookup_identity

    live = {c["name"] for c in inspect(db.engine).get_columns("user")}
    missing = [c.name for c in User.__table__.columns if c.name not in live]
    if missing:
        return {"error": f"the user table lacks {missing}"}
    roles = Role.query.order_by(Role.id).all()
    names = [r.name for r in roles] + ["no-such-role"]
    permissions = sorted(set().union(*[set(r.permissions or []) for r in roles])) + ["no-such-permission"]

    def found(user):
        return user.id if user is not None else None

    users = []
    for u in User.query.order_by(User.id).all():
        entry = {
            column.name: iso(getattr(u, column.name))
            for column in User.__table__.columns
            if column.name not in ("password", "tf_totp_secret", "us_totp_secrets")
        }
        if "mf_recovery_codes" in entry:
            entry["mf_recovery_codes"] = list(u.mf_recovery_codes) if u.mf_recovery_codes is not None else None
        entry["roles"] = sorted(r.name for r in u.roles)
        entry["has_role"] = {n: u.has_role(n) for n in names}
        entry["has_permission"] = {p: u.has_permission(p) for p in permissions}
        entry["is_active"] = u.is_active
        entry["tf_totp_secret_set"] = bool(u.tf_totp_secret)
        entry["found_by_email"] = {
            "stored": found(ds.find_user(email=u.email)),
            "upper": found(ds.find_user(case_insensitive=True, email=u.email.upper())),
            "lower": found(ds.find_user(case_insensitive=True, email=u.email.lower())),
            "lookup_identity": found(lookup_identity(u.email.swapcase())),
        }
        entry["found_by_uniquifier"] = found(ds.find_user(fs_uniquifier=u.fs_uniquifier))
        if args.token_uniquifier and u.active:
            with app.test_request_context(headers={"Authentication-Token": u.get_auth_token()}):
                entry["found_by_auth_token"] = found(_request_loader(request))
        users.append(entry)
    out = {
        "roles": [
            {"id": r.id, "name": r.name, "description": r.description, "permissions": list(r.permissions) if r.permissions is not None else None, "update_datetime": iso(r.update_datetime)}
            for r in roles
        ],
        "users": users,
        "links": [list(row) for row in db.session.execute(text("SELECT user_id, role_id FROM roles_users ORDER BY user_id, role_id"))],
    }
    if args.version == "v3":
        WebAuthn = ds.webauthn_model
        out["webauthn"] = [
            {
                **{column.name: iso(getattr(w, column.name)) for column in WebAuthn.__table__.columns},
                "credential_id": bytes(w.credential_id).hex(),
                "public_key": bytes(w.public_key).hex(),
                "transports": list(w.transports) if w.transports is not None else None,
                "found_user": found(ds.find_user_from_webauthn(ds.find_webauthn(bytes(w.credential_id)))),
            }
            for w in WebAuthn.query.order_by(WebAuthn.id).all()
        ]
    db.session.rollback()
    return out


def create_user(args, db, User, ds):
    """Flask-Security creates a user in the database, with a role, the way its register view does."""
    from flask_security import hash_password

    role = ds.find_role("reader") or ds.create_role(name="reader")
    user = ds.create_user(email=args.create_user, password=hash_password("created-password"), roles=[role])
    db.session.commit()
    return {"id": user.id, "fs_uniquifier": user.fs_uniquifier, "fs_token_uniquifier": getattr(user, "fs_token_uniquifier", None)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["make", "read"])
    parser.add_argument("--version", required=True, choices=sorted(MODELS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-uniquifier", action="store_true")
    parser.add_argument("--extra-column", action="store_true")
    parser.add_argument("--traps", action="store_true")
    parser.add_argument("--create-user", metavar="EMAIL")
    args = parser.parse_args()
    app, db, User, Role, ds = build(args)
    with app.app_context():
        out = {}
        if args.command == "make":
            make(args, app, db, User, Role, ds)
        out["before"] = report(args, app, db, User, Role, ds)
        if args.create_user:
            out["created"] = create_user(args, db, User, ds)
            out["after"] = report(args, app, db, User, Role, ds)
    json.dump(out, sys.stdout, default=str)
    return 1 if "error" in out["before"] else 0


if __name__ == "__main__":
    sys.exit(main())
