"""sitestack's supervisord XML-RPC methods on supervisor's own config objects: one member swapped at a time."""
import io
from types import SimpleNamespace

import pytest
from supervisor.options import ServerOptions
from supervisor.states import ProcessStates
from supervisor.xmlrpc import RPCError

from control.rpcinterface import make_sitestack_rpcinterface

CONF = """[supervisord]
logfile = /dev/null
[program:client1]
command = /bin/cat {one}
stdout_logfile = NONE
[program:client2]
command = /bin/cat
stdout_logfile = NONE
{extra}
[group:clients]
programs = client1,client2{members}
"""


def group_configs(one: str = "", extra: str = "", members: str = ""):
    options = ServerOptions()
    section = options.read_config(io.StringIO(CONF.format(one=one, extra=extra, members=members)))
    return section.process_group_configs


@pytest.fixture
def running():
    [config] = group_configs()
    group = config.make_group()
    supervisord = SimpleNamespace(process_groups={"clients": group}, options=SimpleNamespace())
    return supervisord, group


def test_one_changed_member_is_swapped_while_the_other_runs_on(running):
    supervisord, group = running
    supervisord.options.process_group_configs = group_configs(one="-u")
    rpc = make_sitestack_rpcinterface(supervisord)
    group.processes["client2"].state = ProcessStates.RUNNING
    group.processes["client1"].state = ProcessStates.RUNNING
    assert rpc.processChanged("clients", "client1") and not rpc.processChanged("clients", "client2")
    with pytest.raises(RPCError):  # a running member is never swapped
        rpc.replaceProcess("clients", "client1")
    group.processes["client1"].state = ProcessStates.STOPPED
    kept = group.processes["client2"]
    assert rpc.replaceProcess("clients", "client1")
    swapped = group.processes["client1"]
    assert swapped.config.command == "/bin/cat -u" and swapped.laststart > 0  # not autostarted by supervisord
    assert group.processes["client2"] is kept and not rpc.processChanged("clients", "client1")
    assert rpc.finishGroup("clients") and group.config is supervisord.options.process_group_configs[0]


def test_members_are_added_and_removed_one_at_a_time(running):
    supervisord, group = running
    supervisord.options.process_group_configs = group_configs(
        extra="[program:client3]\ncommand = /bin/cat\nstdout_logfile = NONE", members=",client3")
    rpc = make_sitestack_rpcinterface(supervisord)
    with pytest.raises(RPCError):  # client3 is not there yet
        rpc.finishGroup("clients")
    assert rpc.processChanged("clients", "client3") and rpc.replaceProcess("clients", "client3")
    assert sorted(group.processes) == ["client1", "client2", "client3"] and rpc.finishGroup("clients")
    supervisord.options.process_group_configs = group_configs()
    assert rpc.replaceProcess("clients", "client3") and sorted(group.processes) == ["client1", "client2"]
    with pytest.raises(RPCError):
        rpc.replaceProcess("nosuch", "client1")
