# Vendored unchanged from https://github.com/jrxFive/python-nomad, tests/test_agent.py at commit
# db31eaadd02cc562c4f0fb55da06ab2ac800665b (tag 2.1.0, the python-nomad nomadctl pins).
# MIT licence: see ../LICENSE. Run by tests/referee/test_python_nomad_suite.py.
import pytest
import os
from nomad.api import exceptions as nomad_exceptions


# integration tests requires nomad Vagrant VM or Binary running
def test_get_agent(nomad_setup):
    assert isinstance(nomad_setup.agent.get_agent(), dict) == True


def test_get_members(nomad_setup):
    m = nomad_setup.agent.get_members()

    if isinstance(m, list):
        assert True
    elif isinstance(m, dict):
        assert True
    else:
        assert False


def test_get_servers(nomad_setup):
    s = nomad_setup.agent.get_servers()
    assert isinstance(s, list) == True


def test_join_agent(nomad_setup):
    r = nomad_setup.agent.join_agent("nope")
    assert r["num_joined"] == 0


def test_force_leave(nomad_setup):
    r = nomad_setup.agent.force_leave("nope")
    assert r == 200


def test_dunder_str(nomad_setup):
    assert isinstance(str(nomad_setup.agent), str)


def test_dunder_repr(nomad_setup):
    assert isinstance(repr(nomad_setup.agent), str)


def test_dunder_getattr(nomad_setup):

    with pytest.raises(AttributeError):
        d = nomad_setup.agent.does_not_exist
