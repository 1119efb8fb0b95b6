"""Experiment: the real app with the intake statement swapped for a variant (VARIANT env), plus DDL run once."""
import os, re, sys
sys.path.insert(0, "/tmp/prof")
from webhook_app import queries
import vdefs
name = os.environ.get("VARIANT")
if name:
    sql, ddl, _ = vdefs.V[name]
    queries.all_queries()["store_deliveries"] = sql.replace("RETURNING delivery_id, user_id", "RETURNING user_id")
from app import app
