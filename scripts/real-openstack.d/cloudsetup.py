"""Cloud-side setup for scripts/real-openstack; runs inside the harness's virtualenv.

Invoked by scripts/real-openstack (not meant to be run by hand):

    python cloudsetup.py STATE_JSON identity
    python cloudsetup.py STATE_JSON region N [--discover-cmd JSON] [--boot-test]

`identity` makes Keystone hold what every region needs (service project and users,
regions, services and endpoints, the demo project and user) and prints the IDs as JSON.
`region N` waits until region N's compute host (with its L2 agent in Neutron) and volume
backend are up, maps the
compute host, creates flavors, the `cirros` image, the `fake` volume type and the
`public`/`private` networks with `router1`, and (with --boot-test) boots a test server
as the demo user on `private`, waits for ACTIVE and deletes it.

Every step is idempotent: it looks things up by name before creating them.
"""
import argparse
import json
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import openstack  # noqa: E402

openstack.enable_logging(debug=False)

FLAVORS = [  # name, id, ram MiB, vcpus, disk GiB (devstack's values)
    ("m1.tiny", "1", 512, 1, 1),
    ("m1.small", "2", 2048, 1, 20),
    ("m1.medium", "3", 4096, 2, 40),
]
IMAGE_NAME = "cirros"
VOLUME_TYPE = "fake"
BOOT_TEST_NAME = "real-openstack-boot-test"
OVS_AGENT = "Open vSwitch agent"


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def region_name(n):
    return "RegionOne" if n == 1 else "RegionTwo"


def connect(state, user, project, region):
    ks = state["ports"]["1"]["keystone"]
    pw = state["passwords"][user]
    return openstack.connect(
        auth_url=f"http://127.0.0.1:{ks}/v3",
        username=user, password=pw, project_name=project,
        user_domain_name="Default", project_domain_name="Default",
        region_name=region, identity_api_version="3", interface="public",
    )


def wait_for(what, fn, timeout, interval=1.0):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the services may still be starting
            last = e
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}"
                     + (f" (last error: {last})" if last else ""))


# ---------------------------------------------------------------- identity

SERVICES = [  # service name, type, url path
    ("neutron", "network", ""),
    ("placement", "placement", ""),
    ("nova", "compute", "/v2.1"),
    ("glance", "image", ""),
    ("cinder", "block-storage", "/v3"),
    ("cinderv3", "volumev3", "/v3"),
]
SERVICE_PORT = {"neutron": "neutron-api", "placement": "placement-api", "nova": "nova-api",
                "glance": "glance-api", "cinder": "cinder-api", "cinderv3": "cinder-api"}
# with roles admin and service in project service; `tricircle` is the identity a Tricircle
# gateway manages the region with (cloud `real-tricircle`)
SERVICE_USERS = ["neutron", "placement", "nova", "glance", "cinder", "tricircle"]
INTERFACES = ["public", "internal", "admin"]


def ensure_role(idn, name):
    return idn.find_role(name) or idn.create_role(name=name)


def ensure_project(idn, name, desc):
    return (idn.find_project(name, domain_id="default")
            or idn.create_project(name=name, domain_id="default", description=desc))


def ensure_user(idn, name, password, project):
    # the password never changes during a deployment's life (`down` drops Keystone's database)
    return (idn.find_user(name, domain_id="default")
            or idn.create_user(name=name, password=password, domain_id="default",
                               default_project_id=project.id))


def identity(state):
    conn = connect(state, "admin", "admin", "RegionOne")
    idn = conn.identity
    roles = {r: ensure_role(idn, r) for r in ("admin", "member", "reader", "service")}
    service_project = ensure_project(idn, "service", "Service users of real-openstack")
    demo = ensure_project(idn, "demo", "Demo project of real-openstack")
    admin_project = idn.find_project("admin", domain_id="default")
    admin_user = idn.find_user("admin", domain_id="default")
    for name in SERVICE_USERS:
        u = ensure_user(idn, name, state["passwords"][name], service_project)
        for r in ("admin", "service"):
            idn.assign_project_role_to_user(service_project, u, roles[r])
    demo_user = ensure_user(idn, "demo", state["passwords"]["demo"], demo)
    idn.assign_project_role_to_user(demo, demo_user, roles["member"])
    idn.assign_project_role_to_user(demo, admin_user, roles["admin"])

    regions = [int(r) for r in state["regions"]]
    for n in regions:
        rid = region_name(n)
        try:
            idn.get_region(rid)
        except openstack.exceptions.NotFoundException:
            idn.create_region(id=rid)
    existing_services = {(s.name, s.type): s for s in idn.services()}
    endpoints = list(idn.endpoints())
    ks_port = state["ports"]["1"]["keystone"]
    for name, stype, path in [("keystone", "identity", "/v3/")] + SERVICES:
        svc = existing_services.get((name, stype)) or idn.create_service(
            name=name, type=stype, description=f"{name} ({stype})", is_enabled=True)
        for n in regions:
            rid = region_name(n)
            if name == "keystone":
                # one Keystone for all regions; RegionTwo lists it too, or openstackclient
                # and openstacksdk disable identity for --os-region-name RegionTwo
                url = f"http://127.0.0.1:{ks_port}/v3/"
            else:
                url = f"http://127.0.0.1:{state['ports'][str(n)][SERVICE_PORT[name]]}{path}"
            for iface in INTERFACES:
                mine = [e for e in endpoints if e.service_id == svc.id
                        and e.region_id == rid and e.interface == iface]
                if not mine:
                    idn.create_endpoint(service_id=svc.id, region_id=rid, interface=iface,
                                        url=url, is_enabled=True)
                elif mine[0].url != url:
                    idn.update_endpoint(mine[0], url=url)
    out = {
        "admin_project_id": admin_project.id, "admin_user_id": admin_user.id,
        "demo_project_id": demo.id, "demo_user_id": demo_user.id,
        "service_project_id": service_project.id,
    }
    print(json.dumps(out))


# ---------------------------------------------------------------- region

def tiny_image_bytes():
    # a few KB, made here (no internet): a recognisable header and a counting pattern
    head = b"tricircle real-openstack test image (raw, not bootable)\n"
    body = bytes(i % 251 for i in range(16384 - len(head)))
    return head + body


def ensure_networks(conn, demo_project_id):
    net = conn.network
    public = net.find_network("public")
    if public is None:
        public = net.create_network(name="public", is_router_external=True,
                                    provider_network_type="flat",
                                    provider_physical_network="physnet1")
    if not list(net.subnets(network_id=public.id)):
        net.create_subnet(name="public-subnet", network_id=public.id, ip_version=4,
                          cidr="172.24.4.0/24", gateway_ip="172.24.4.1",
                          is_dhcp_enabled=False)
    private = net.find_network("private", project_id=demo_project_id)
    if private is None:
        private = net.create_network(name="private", project_id=demo_project_id)
    subnets = list(net.subnets(network_id=private.id))
    if subnets:
        private_subnet = subnets[0]
    else:
        private_subnet = net.create_subnet(name="private-subnet", network_id=private.id,
                                           project_id=demo_project_id, ip_version=4,
                                           cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
    router = net.find_router("router1", project_id=demo_project_id)
    if router is None:
        router = net.create_router(name="router1", project_id=demo_project_id,
                                   external_gateway_info={"network_id": public.id})
        net.add_interface_to_router(router, subnet_id=private_subnet.id)
    return private


def region(state, n, discover_cmd, boot_test):
    rid = region_name(n)
    conn = connect(state, "admin", "admin", rid)
    t0 = time.monotonic()
    tunnels = state["compute_hosts"][str(n)]
    host = ", ".join(tunnels)

    def compute_up():
        return [s for s in conn.compute.services()
                if s.binary == "nova-compute" and s.state == "up" and s.status == "enabled"]
    computes = wait_for(f"{rid} nova-compute to report up", compute_up, 180)

    # Every host Nova computes on needs its L2 agent with its tunnel endpoint (Tricircle's
    # shadow ports point at it); l2agent.py reports them through neutron-rpc-server.
    unknown = sorted({s.host for s in computes} - set(tunnels))
    if unknown:
        raise SystemExit(f"{rid}: nova-compute runs on {', '.join(unknown)}, which has no L2 "
                         f"agent configured (only {', '.join(tunnels)})")

    def agents_alive():
        for h, ip in tunnels.items():
            found = [a for a in conn.network.agents(host=h, agent_type=OVS_AGENT)
                     if a.is_alive and a.configuration.get("tunneling_ip") == ip]
            if not found:
                return False
        return True
    wait_for(f"{rid} Open vSwitch agent(s) of {host} (neutron-rpc and neutron-ovs-agent; "
             "see their logs)", agents_alive, 120)

    def mapped_hypervisor():
        # the API lists a compute node only once its host is mapped to a cell
        if list(conn.compute.hypervisors()):
            return True
        if discover_cmd:
            subprocess.run(discover_cmd, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return list(conn.compute.hypervisors())
    wait_for(f"{rid} hypervisor mapped to cell1", mapped_hypervisor, 120, interval=2)

    def inventory():
        for rp in conn.placement.resource_providers():
            inv = list(conn.placement.resource_provider_inventories(rp))
            if any(i.resource_class == "VCPU" for i in inv):
                return True
        return False
    wait_for(f"{rid} placement inventory", inventory, 120)

    def volume_up():
        return [s for s in conn.block_storage.services()
                if s.binary == "cinder-volume" and s.state == "up"]
    wait_for(f"{rid} cinder-volume to report up", volume_up, 120)
    say(f"  {rid}: compute host {host} with its L2 agent ("
        + ", ".join(f"tunnel {ip}" for ip in tunnels.values())
        + f") and volume backend up ({time.monotonic() - t0:.1f} s)")

    t1 = time.monotonic()
    for name, fid, ram, vcpus, disk in FLAVORS:
        if conn.compute.find_flavor(name, ignore_missing=True) is None:
            conn.compute.create_flavor(name=name, id=fid, ram=ram, vcpus=vcpus, disk=disk,
                                       is_public=True)
    img = conn.image.find_image(IMAGE_NAME)
    if img is not None and img.status != "active":
        conn.image.delete_image(img)
        img = None
    if img is None:
        img = conn.image.create_image(name=IMAGE_NAME, data=tiny_image_bytes(),
                                      disk_format="raw", container_format="bare",
                                      visibility="public", allow_duplicates=True)
        conn.image.wait_for_status(img, "active", wait=60)
    if conn.block_storage.find_type(VOLUME_TYPE) is None:
        conn.block_storage.create_type(name=VOLUME_TYPE, is_public=True,
                                       extra_specs={"volume_backend_name": "fake"})
    demo_project_id = state["ids"]["demo_project_id"]
    private = ensure_networks(conn, demo_project_id)
    say(f"  {rid}: flavors, image {IMAGE_NAME}, volume type {VOLUME_TYPE}, "
        f"networks public/private and router1 in place ({time.monotonic() - t1:.1f} s)")

    if boot_test:
        t2 = time.monotonic()
        demo = connect(state, "demo", "demo", rid)
        for old in demo.compute.servers(name=f"^{BOOT_TEST_NAME}$"):
            demo.compute.delete_server(old)
            demo.compute.wait_for_delete(old, wait=60)
        flavor = demo.compute.find_flavor("m1.tiny")
        server = demo.compute.create_server(name=BOOT_TEST_NAME, flavor_id=flavor.id,
                                            image_id=img.id,
                                            networks=[{"uuid": private.id}])
        try:
            server = demo.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"],
                                                  interval=1, wait=180)
        except Exception as e:
            s = demo.compute.get_server(server.id)
            raise SystemExit(f"{rid}: boot test failed: {e}; fault: {getattr(s, 'fault', None)}")
        addrs = ", ".join(a["addr"] for v in (server.addresses or {}).values() for a in v)
        bound = {p.binding_host_id for p in conn.network.ports(device_id=server.id)}
        if not bound or not bound <= set(tunnels):
            raise SystemExit(f"{rid}: boot test: the server's ports are bound to {bound}, "
                             f"not to a host with an L2 agent ({host})")
        t_active = time.monotonic() - t2
        demo.compute.delete_server(server)
        demo.compute.wait_for_delete(server, interval=1, wait=120)
        say(f"  {rid}: boot test: server ACTIVE with {addrs or 'no address'} after "
            f"{t_active:.1f} s, deleted after {time.monotonic() - t2:.1f} s")
    print(json.dumps({"region": rid, "image_id": img.id, "private_network_id": private.id}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("state")
    p.add_argument("action", choices=["identity", "region"])
    p.add_argument("region", nargs="?", type=int)
    p.add_argument("--discover-cmd")
    p.add_argument("--boot-test", action="store_true")
    a = p.parse_args()
    with open(a.state) as f:
        state = json.load(f)
    if a.action == "identity":
        identity(state)
    else:
        region(state, a.region, json.loads(a.discover_cmd) if a.discover_cmd else None,
               a.boot_test)


if __name__ == "__main__":
    main()
