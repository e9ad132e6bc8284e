"""The local lab: real Postfix, sshd, knot DNS, sshfs storage and keepalived in namespaces on this machine.

`topology` says who the hosts are, `configs` renders their files, `network` builds the bridge and
namespaces, `hosts` boots and stops them, `manager` ties these into `up`, `down`, `status` and `exec`.
"""
