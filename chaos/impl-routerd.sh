# shellcheck shell=bash disable=SC2034 # the IMPL_* variables are read by the sourcing script
# Chaos and failover-bench hooks for routerd (routerd + routerd-vrrp on r1/r2,
# routerd --witness on w). A SKELETON: every hook says what it must do; the
# bodies are to be written when routerd's HA parts land. Until then every hook
# fails loudly so no run can pass by accident.
#
# ---------------------------------------------------------------- the interface
#
# A hook file is sourced by chaos/run.sh and deploy/failover-bench.sh after
# deploy/pair-topology.sh. It may use from the topology library:
#   PAIR_PREFIX, pair_ns NODE (the namespace of r1, r2 or w), pair_run_dir (a
#   per-lab directory for configs, sockets, pid files and logs; `down` deletes
#   it), the addresses PAIR_VIP4, PAIR_VIP6_LL, PAIR_VIP6, pair_lan4 NODE,
#   pair_cl4 NODE, pair_cl6 NODE, ..., and pair_vip_holders / pair_master.
# and from the environment:
#   ADVERT_INT   the VRRP advert interval in seconds (0.1 or 1 in the bench).
#
# NODE is one of r1, r2 (routers: lan0, wan0, cl0) and w (witness: cl0 only).
# The topology is already up (addresses on lan0/wan0/cl0, forwarding on, SNAT
# to the WAN); a hook must not change links or addresses other than the VIPs.
# Every hook returns within seconds (bound your waits) and 0 on success.
#
# Variables:
#   IMPL_NAME            a short name for reports (required).
#   IMPL_HAS_GENERATION  1 if impl_generation works; chaos then asks rdcheck to
#                        check that every node reports the same committed
#                        generation at the end.
#   IMPL_FAULT_KINDS     optional: the faults that make sense (default all of
#                        kill-vrrp kill-control cut-cluster lan-down).
#
# Hooks (all take NODE):
#   impl_start NODE          start the node's daemons (idempotent: a running
#                            node is left alone); return once they run.
#   impl_stop NODE           stop them and remove what they leave behind
#                            (VIPs, sockets), so the next impl_start is fresh.
#   impl_kill_vrrp NODE      kill -9 the VRRP data-plane daemon only.
#   impl_kill_control NODE   kill -9 the control plane only.
#   impl_restart_killed NODE what the supervisor does: start whatever of the
#                            node's daemons is not running (idempotent).
#   impl_ready NODE          optional: true when the node is fully back (the
#                            runner waits for it after each fault).
#   impl_generation NODE     print the node's committed configuration
#                            generation (one number) and return 0.
#
# ------------------------------------------------------------ for routerd
#
# What each hook must do for routerd (paths are suggestions):
#
# impl_start NODE:
#   * write $(pair_run_dir)/routerd-NODE/router.yaml: for r1/r2 the cluster
#     (members r1 10.255.0.1, r2 10.255.0.2, w 10.255.0.3 on cl0, with the
#     fd00:255:: addresses if the cluster speaks IPv6), and the VRRP groups on
#     lan0: VRID 51 with 10.99.0.254/24, VRID 52 with fe80::99:254 first and
#     fd00:99::254; priorities r1 200, r2 100; advert interval $ADVERT_INT;
#     for w the witness config (Raft voter, no data plane).
#   * start `routerd serve` (r1/r2) or `routerd --witness` (w) inside
#     $(pair_ns NODE) with setsid/nohup, state dir and socket under
#     $(pair_run_dir)/routerd-NODE, log to a file there, and record its pid.
#     routerd starts routerd-vrrp itself as a managed daemon.
#   * wait (bounded, ~30 s) until `routerctl --socket S status` answers and,
#     on r1/r2, routerd-vrrp is running (routerctl daemon list).
#
# impl_stop NODE:
#   * `routerctl --socket S stop` (bounded), then TERM/KILL what is left of
#     routerd and routerd-vrrp (their pids, never by name), then delete the
#     VIPs from lan0 (a killed routerd-vrrp leaves them) and the state dir.
#
# impl_kill_vrrp NODE:
#   * kill -9 the routerd-vrrp pid (e.g. from
#     `routerctl daemon status vrrp -o json | jq .supervisor.pid`). routerd's
#     own supervisor restarts it; HA.md point 3 says the VIP must not move.
#
# impl_kill_control NODE:
#   * kill -9 the routerd pid (the Raft node). routerd-vrrp keeps running;
#     on the owner its lease runs out unless routerd is back in time.
#
# impl_restart_killed NODE:
#   * if routerd is not running, start it again exactly as impl_start does
#     (same config and state dir: it must adopt the running routerd-vrrp);
#     if routerd runs, nothing (it restarts routerd-vrrp itself).
#
# impl_ready NODE:
#   * routerctl status answers, and on r1/r2 routerd-vrrp is running and
#     reports a state (Master/Backup), and the node sees a Raft leader.
#
# impl_generation NODE:
#   * print the committed generation, e.g.
#     `routerctl --socket S status -o json | jq -r .generation.committed`
#     (use whatever field names the committed Raft log index/config
#     generation; it must be the same number on every node once converged).

IMPL_NAME=routerd
IMPL_HAS_GENERATION=1
IMPL_FAULT_KINDS="kill-vrrp kill-control cut-cluster lan-down"

rd_todo() {
  echo "impl-routerd: $1 is not written yet (see the comments in chaos/impl-routerd.sh)" >&2
  return 1
}

impl_start() { rd_todo "impl_start $1"; }
impl_stop() { rd_todo "impl_stop $1"; }
impl_kill_vrrp() { rd_todo "impl_kill_vrrp $1"; }
impl_kill_control() { rd_todo "impl_kill_control $1"; }
impl_restart_killed() { rd_todo "impl_restart_killed $1"; }
impl_ready() { rd_todo "impl_ready $1"; }
impl_generation() { rd_todo "impl_generation $1"; }
