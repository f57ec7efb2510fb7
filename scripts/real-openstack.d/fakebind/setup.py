from setuptools import setup

setup(
    name="tricircle-fakebind",
    version="1.0",
    description="ML2 mechanism driver binding every port (scripts/real-openstack)",
    py_modules=["fakebind_mech"],
    entry_points={
        "neutron.ml2.mechanism_drivers": [
            "fakebind = fakebind_mech:FakeBindMechanismDriver",
        ],
    },
)
