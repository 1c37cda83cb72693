"""The queries both sql-rule checks are held to: the one on save (sqlglot) and the one at run time (Spark's plan)."""

ACCEPTED = [
    "SELECT COUNT(*) FROM {object} WHERE x < 0",
    "SELECT COUNT(*) FROM ${object} WHERE x < 0",
    "SELECT MAX(${property}) FROM {table}",
    "WITH negative AS (SELECT * FROM {object} WHERE x < 0) SELECT COUNT(*) FROM negative",
    "SELECT COUNT(*) FROM {object} a JOIN {object} b ON a.x = b.x",
    "SELECT COUNT(*) FROM {object} WHERE x IN (SELECT x FROM {object} WHERE x > 1)",
]

REFUSED = {
    "SELECT * FROM text.`file:///etc/passwd`": "reads text.file:///etc/passwd",
    "SELECT reflect('java.lang.System', 'getenv', 'HOME')": "calls reflect()",
    "SELECT java_method('java.lang.System', 'getenv', 'HOME')": "calls java_method()",
    "SELECT try_reflect('java.lang.System', 'getenv', 'HOME')": "calls try_reflect()",
    "SELECT 1; DROP TABLE t": "",
    "ADD JAR /tmp/evil.jar": "",
    "SET spark.x=1": "",
    "CACHE TABLE {object}": "",
    "INSERT INTO t SELECT * FROM {object}": "",
    "SELECT * FROM other_table": "reads other_table",
    "SELECT COUNT(*) FROM {object} WHERE x IN (SELECT x FROM other_table)": "reads other_table",
    "WITH sneaky AS (SELECT * FROM other_table) SELECT COUNT(*) FROM sneaky": "reads other_table",
    "SELECT input_file_name() FROM {object}": "calls input_file_name()",
    "SELECT COUNT(*) FROM range(10)": "",
    "SELECT COUNT(*) FROM read_files('/etc')": "",
    "SELECT TRANSFORM(x) USING 'cat' FROM {object}": "",
    "SELECT '${env:HOME}'": "variable substitution",
    "SELECT COUNT(*) FROM dc43_batch_1": "names dc43_batch",
    "SELECT IDENTIFIER('reflect')('java.lang.System', 'getenv', 'HOME')": "",
    "SELECT COUNT(*) FROM IDENTIFIER('other_table')": "",
    "EXECUTE IMMEDIATE 'SELECT 1'": "",
    "SELECT x FROM {object} LATERAL VIEW java_method('a', 'b') t AS y": "",
}
