"""The layering, checked on the source: only a package's own modules name its queries, only db/ talks to the driver.

`sql/<package>.sql` holds the named queries of `webhook_app/<package>/`. Views and jobs call that
package's functions; they never name a query themselves. A query nobody names is dead and goes.
"""
import ast
from pathlib import Path

from webhook_app.db.queries import SQL_DIR, parse_queries

ROOT = Path(__file__).resolve().parent.parent
CODE = [p for d in ("webhook_app", "jobs") for p in sorted((ROOT / d).rglob("*.py"))]


def _is_view(path: Path) -> bool:
    return path.name == "views.py" or path.name.endswith("_views.py") or path.name == "connect.py"


def _owners() -> dict[str, str]:
    owners = {}
    for sql_file in sorted(SQL_DIR.glob("*.sql")):
        for name in parse_queries(sql_file.read_text(), str(sql_file)):
            owners[name] = sql_file.stem
    return owners


def _strings(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_every_sql_file_belongs_to_a_package():
    packages = {p.name for p in (ROOT / "webhook_app").iterdir() if (p / "__init__.py").exists()}
    assert {f.stem for f in SQL_DIR.glob("*.sql")} <= packages


def test_each_query_is_named_only_by_its_own_package_and_never_by_a_view_or_a_job():
    owners = _owners()
    wrong, used = [], set()
    for path in CODE:
        relative = path.relative_to(ROOT)
        for name in _strings(path) & owners.keys():
            used.add(name)
            own_package = relative.parts[:2] == ("webhook_app", owners[name])
            if not own_package or _is_view(path):
                wrong.append(f"{relative} names {name} (sql/{owners[name]}.sql)")
    assert wrong == []
    assert sorted(owners.keys() - used) == [], "queries no code runs"


def test_only_the_db_package_imports_the_driver():
    importers = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "psycopg2" for n in names):
                importers.append(str(path.relative_to(ROOT)))
    assert sorted(p for p in set(importers) if not p.startswith("webhook_app/db/")) == []


def test_query_names_are_written_out_never_assembled():
    """A name built at run time (an f-string) hides where a query runs from readers and from the test above."""
    assembled = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("one", "all", "run", "run_many", "statement_rows")
                    and node.args and isinstance(node.args[0], (ast.JoinedStr, ast.BinOp))):
                assembled.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert assembled == []
