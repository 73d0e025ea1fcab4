// Package cluster is the fault suite of a party's node run as a 3-member
// Raft cluster (internal/raftlog): real `linkd node --cluster` processes,
// clients appending and reading linearizably through every member, while a
// nemesis SIGKILLs, SIGSTOPs and restarts members and partitions them
// through faultnet proxies. It checks what a user relies on: no
// acknowledged event lost or recorded twice, every member ending with the
// same log and root, and a history of appends and reads that porcupine
// finds linearizable.
//
// The default run takes about a minute and runs in CI. LINKD_FAULT=1 runs
// the long variant (LINKD_FAULT_DURATION, default 5m, with majority losses
// along the way); LINKD_FAULT_SEED replays a schedule, and LINKD_FAULT_DIR
// keeps the members' directories and logs after the run.
package cluster
