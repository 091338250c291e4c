"""test_ha_etcd_cluster_hung.py - a hung three-member etcd: every member
SIGSTOPped while the job runs, then SIGCONTed.

The SIGKILL test of test_ha_etcd_cluster.py with calls that time out
instead of failing at once (a hung etcd, a partition): the leader steps
down (exit 75, JM-HA-DEPOSED), the TaskManagers keep reading with no
leader, and after SIGCONT a leader is elected - a candidate whose
campaign etcd answered only on its resumption must not lead for no time
and step down - and the job runs again; output exact. Its own file so
each ctest entry stays near a minute.
"""
import signal

from test_ha_etcd_cluster import all_members_stopped
from weirtest import main


def test_all_members_hung():
    all_members_stopped(signal.SIGSTOP)


if __name__ == "__main__":
    main([test_all_members_hung])
