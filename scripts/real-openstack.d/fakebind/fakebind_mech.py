"""ML2 mechanism driver that binds every port, for an agent-less Neutron.

Neutron without agents leaves ports unbound and Nova then fails with PortBindingFailed.
This driver binds each port on its first segment as an OVS port that is ACTIVE, so
servers of Nova's fake compute driver get their ports and IPs. Test harness only.
"""
from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class FakeBindMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: True},
                                status=constants.PORT_STATUS_ACTIVE)
            return
