"""
Flask-Security 5.1.2's own password code, driven by test/interop/passwords.test.ts.

Run with Debian's interpreter: /usr/bin/python3 test/interop/passwords.py < request.json
Request: {"salt": "...", "password_hash": "bcrypt" (SECURITY_PASSWORD_HASH), "passlib_options": {...} (optional,
SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS instead of Flask-Security's default), "ops": [...]}, each op one of
  {"op": "hash", "password": p}                    -> {"hash": hash_password(normalize(p))}
  {"op": "verify", "password": p, "hash": h}       -> {"verified": verify_password(normalize(p), h)}
  {"op": "needs_update", "hash": h}                -> {"needs_update": pwd_context.needs_update(h)}
  {"op": "verify_and_update", "password": p, "hash": h}
      -> a user saved with password h, then User.verify_and_update_password(normalize(p)) and a commit, as a
         login does: {"verified": bool, "stored": the password column read back afterwards}
Every password goes through the app's PasswordUtil.normalize first, as Flask-Security's forms do. An op that
raises answers {"error": "<exception class>"} (never its message, which could quote a hash).
Everything else is Flask-Security's default configuration; the database is SQLite in memory.
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")

from flask import Flask  # noqa: E402
from flask_sqlalchemy import SQLAlchemy  # noqa: E402
from flask_security import Security, SQLAlchemyUserDatastore  # noqa: E402
from flask_security.models import fsqla_v2 as fsqla  # noqa: E402
from flask_security.utils import hash_password, verify_password  # noqa: E402


def build_app(salt, password_hash, passlib_options):
    app = Flask("passwords-interop")
    app.config.update(
        SQLALCHEMY_DATABASE_URI="sqlite://",
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        SECRET_KEY="passwords-interop-secret-key",
        SECURITY_PASSWORD_SALT=salt,
        SECURITY_PASSWORD_HASH=password_hash,
    )
    if passlib_options is not None:
        app.config["SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS"] = passlib_options
    db = SQLAlchemy(app)
    fsqla.FsModels.set_db_info(db)

    class Role(db.Model, fsqla.FsRoleMixin):
        pass

    class User(db.Model, fsqla.FsUserMixin):
        pass

    datastore = SQLAlchemyUserDatastore(db, User, Role)
    security = Security(app, datastore, register_blueprint=False)
    return app, db, datastore, security


def run(request):
    app, db, datastore, security = build_app(
        request["salt"], request.get("password_hash", "bcrypt"), request.get("passlib_options")
    )
    results = []
    with app.app_context():
        db.create_all()
        normalize = security._password_util.normalize
        for number, op in enumerate(request["ops"]):
            try:
                kind = op["op"]
                if kind == "hash":
                    results.append({"hash": hash_password(normalize(op["password"]))})
                elif kind == "verify":
                    results.append({"verified": bool(verify_password(normalize(op["password"]), op["hash"]))})
                elif kind == "needs_update":
                    results.append({"needs_update": bool(security.pwd_context.needs_update(op["hash"]))})
                elif kind == "verify_and_update":
                    user = datastore.create_user(email=f"user{number}@example.com", password=op["hash"])
                    db.session.commit()
                    verified = user.verify_and_update_password(normalize(op["password"]))
                    db.session.commit()
                    db.session.expire_all()
                    stored = datastore.find_user(email=f"user{number}@example.com").password
                    results.append({"verified": bool(verified), "stored": stored})
                else:
                    results.append({"error": f"unknown op {kind!r}"})
            except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
                db.session.rollback()
                results.append({"error": type(error).__name__})
    return results


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
