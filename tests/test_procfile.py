"""The Procfile and the systemd unit examples describe the same processes, so the tested lines are the documented ones.

tests/test_web_processes.py and tests/test_spark_cluster.py start the Procfile's lines; the units in deploy/systemd
must run the same commands (with the virtualenv's path, and the unit's instance as the port).
"""

import configparser
import re
import shlex

from procfile import ROOT, procfile_lines

UNITS = ROOT / "deploy" / "systemd"


def unit(name):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(UNITS / name)
    return parser


def as_run_by_systemd(line, **values):
    """A Procfile line as its unit runs it: `env VAR=x` moved to Environment=, ${VAR:-default} given a value."""
    words = shlex.split(line)
    environment = []
    if words[0] == "env":
        words.pop(0)
        while "=" in words[0]:
            environment.append(words.pop(0))
    for name, value in values.items():
        words = [re.sub(rf"\$\{{{name}(:-[^}}]*)?\}}", value, word) for word in words]
    return environment, words


def test_the_procfile_names_the_processes_the_tests_and_the_demo_start():
    assert list(procfile_lines()) == ["web.1", "web.2", "worker", "spark-master", "spark-worker", "redis"]


def test_both_web_processes_run_the_same_command_on_ports_of_their_own():
    lines = procfile_lines()
    assert lines["web.1"].replace("DC43_WEB1_PORT:-8000", "PORT") == lines["web.2"].replace(
        "DC43_WEB2_PORT:-8001", "PORT"
    )


def test_every_process_of_the_site_only_queues_runs_or_hosts_them():
    for name in ("web.1", "web.2", "worker"):
        assert procfile_lines()[name].startswith("env DC43_RUNNER=worker "), name


def test_the_web_unit_runs_the_procfiles_web_line_with_its_instance_as_the_port():
    environment, words = as_run_by_systemd(procfile_lines()["web.1"], DC43_WEB1_PORT="%i")
    service = unit("dc43-web@.service")["Service"]
    assert service["ExecStart"].split() == ["/opt/dc43/.venv/bin/" + words[0], *words[1:]]
    assert service["Environment"].split() == environment


def test_the_worker_unit_runs_the_procfiles_worker_line_and_lets_the_worker_stop_its_runs():
    environment, words = as_run_by_systemd(procfile_lines()["worker"])
    service = unit("dc43-worker@.service")["Service"]
    assert service["ExecStart"].split() == ["/opt/dc43/.venv/bin/" + words[0], *words[1:]]
    assert service["Environment"].split() == environment
    # SIGTERM to the worker alone: systemd's default would hit its Spark driver's JVM at the same moment.
    assert service["KillMode"] == "mixed"
