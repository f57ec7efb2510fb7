"""An Open vSwitch L2 agent without a dataplane, for scripts/real-openstack.

Runs inside the harness's virtualenv, one process per region (not meant to be run by hand):

    python l2agent.py --config-file neutron.conf --host NAME=TUNNEL_IP [--host ...]

The harness's Neutron has no dataplane (no Open vSwitch on this machine), but Tricircle needs
what a region with one has: for each compute host, an L2 agent record whose
`configurations.tunneling_ip` is the host's VXLAN tunnel endpoint (`GET /v2.0/agents?host=H`).
That is where the gateway reads the endpoint a remote pod's shadow port must point at.

So this process does, for each host given, exactly what neutron-openvswitch-agent does towards
the Neutron server and nothing else: every `[AGENT] report_interval` seconds it calls
`report_state` on the `q-reports-plugin` topic over oslo.messaging (Neutron's own
`PluginReportStateAPI` client, the region's RabbitMQ vhost), with the agent type, binary and
configurations an OVS agent reports. The Neutron RPC server (neutron-rpc-server, started by
the harness too) writes the agent rows through its agent DB code, keeps their heartbeat and
`alive` state, and flags a revived agent, as in any deployment with agents. Nothing here
touches the database. Ports are still bound by the `fakebind` mechanism driver (this agent
wires no ports), so it reports no devices.
"""
import argparse
import signal
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from neutron_lib.agent import constants as agent_consts  # noqa: E402
from neutron_lib.agent import topics  # noqa: E402
from neutron_lib import constants as n_const  # noqa: E402
from neutron_lib import context as n_context  # noqa: E402
from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402

from neutron.agent import rpc as agent_rpc  # noqa: E402
from neutron.api.rpc.callbacks import resources  # noqa: E402
from neutron.common import config as common_config  # noqa: E402
from neutron.conf.agent import common as agent_config  # noqa: E402

LOG = logging.getLogger("l2agent")

# While the RPC server is not consuming yet (both start together), a report is lost; ask again
# after this many seconds instead of waiting a whole report interval.
FIRST_REPORT_TIMEOUT = 5


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config-file", action="append", required=True,
                    help="Neutron's config (for transport_url and [AGENT] report_interval)")
    ap.add_argument("--host", action="append", required=True, metavar="NAME=TUNNEL_IP",
                    help="a compute host and its tunnel endpoint (repeatable)")
    args = ap.parse_args(argv)
    hosts = []
    for h in args.host:
        name, sep, ip = h.partition("=")
        if not sep or not name or not ip:
            ap.error(f"--host {h!r}: expected NAME=TUNNEL_IP")
        hosts.append((name, ip))
    return args, hosts


def agent_state(host, tunnel_ip):
    """What an OVS agent with VXLAN tunnels and no bridge mappings reports about itself."""
    return {
        "binary": n_const.AGENT_PROCESS_OVS,
        "host": host,
        "topic": n_const.L2_AGENT_TOPIC,
        "agent_type": n_const.AGENT_TYPE_OVS,
        "configurations": {
            "tunneling_ip": tunnel_ip,
            "tunnel_types": [n_const.TYPE_VXLAN],
            "bridge_mappings": {},
            "l2_population": False,
            "arp_responder_enabled": False,
            "enable_distributed_routing": False,
            "integration_bridge": "br-int",
            "datapath_type": "system",
            "ovs_hybrid_plug": False,
            "extensions": [],
            "devices": 0,
            "in_distributed_mode": False,
            "log_agent_heartbeats": False,
        },
        # the first report of a (re)started agent carries these two
        "resource_versions": resources.LOCAL_RESOURCE_VERSIONS,
        "start_flag": True,
    }


def main(argv):
    args, hosts = parse_args(argv)
    common_config.register_common_config_options()
    agent_config.register_agent_state_opts_helper(cfg.CONF)
    conf_args = []
    for f in args.config_file:
        conf_args += ["--config-file", f]
    common_config.init(conf_args)  # also sets up oslo.messaging from transport_url
    common_config.setup_logging()
    interval = cfg.CONF.AGENT.report_interval
    client = agent_rpc.PluginReportStateAPI(topics.REPORTS)
    ctx = n_context.get_admin_context_without_session()
    states = {name: agent_state(name, ip) for name, ip in hosts}
    reported = {name: False for name, _ in hosts}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    LOG.info("reporting %s every %s s", ", ".join(f"{n} (tunnel {ip})" for n, ip in hosts),
             interval)
    while not stop:
        started = time.monotonic()
        for name, state in states.items():
            client.timeout = interval if reported[name] else FIRST_REPORT_TIMEOUT
            try:
                status = client.report_state(ctx, state, use_call=True)
            except Exception as e:  # the server may be starting or restarting: try again
                LOG.warning("report_state for %s failed (%s: %s); trying again", name,
                            type(e).__name__, e)
                continue
            if status is None:
                # the server skips a report sent before it started: not recorded
                LOG.info("report of %s came before the server started; again", name)
                continue
            if not reported[name] or status == agent_consts.AGENT_REVIVED:
                LOG.info("agent of %s reported: %s", name, status)
            reported[name] = True
            # like the OVS agent: versions and start_flag go with the first successful report
            state.pop("resource_versions", None)
            state.pop("start_flag", None)
        pause = interval if all(reported.values()) else 1
        while not stop and time.monotonic() - started < pause:
            time.sleep(0.5)
    LOG.info("stopping")


if __name__ == "__main__":
    main(sys.argv[1:])
