//! Replication with real processes: a ring of 6 `feira-chord` nodes with r = 3 holds
//! 200 keys; `kill -9` of one node, then of its neighbour, loses none of them (every
//! key reads back through every survivor), and when the two come back on the same
//! addresses the ring puts every key on its 3 holders again, once each.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use feira::chord::NodeRef;
use support::chord::{check_replicas, check_ring, peer, ring, successor_of};
use support::{Rng, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_feira-chord");
const NODES: usize = 6;
const R: usize = 3;
const KEYS: usize = 200;
const SETTLE: Duration = Duration::from_secs(30);

/// A node process, killed if the test fails half-way.
struct Process {
    child: Child,
    me: NodeRef,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `feira-chord node` at `addr` (port 0: any) and reads its id and address
/// from its first line, `node <id> listening on <addr>`.
fn start(addr: &str, join: Option<NodeRef>) -> Process {
    let mut command = Command::new(BIN);
    command.args([
        "node",
        "--addr",
        addr,
        "--bits",
        "32",
        "--successors",
        "3",
        "--stabilize-ms",
        "50",
    ]);
    if let Some(join) = join {
        command.args(["--join", &join.addr.to_string()]);
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start feira-chord node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the node prints its address");
    let words: Vec<&str> = line.split_whitespace().collect();
    let me = match words.as_slice() {
        ["node", id, "listening", "on", addr] => NodeRef::from_tokens(ring(), id, addr),
        _ => Err(format!("unexpected first line {line:?}")),
    };
    Process {
        child,
        me: me.unwrap(),
    }
}

fn sorted(nodes: &[Process]) -> Vec<NodeRef> {
    let mut refs: Vec<NodeRef> = nodes.iter().map(|p| p.me).collect();
    refs.sort_by_key(|n| n.id);
    refs
}

/// Every key reads back, with its value, through every node of `through`.
fn check_reads(through: &[NodeRef], want: &BTreeMap<String, String>) -> Result<(), String> {
    for node in through {
        let mut peer = peer(node);
        for (key, value) in want {
            match peer.get(key) {
                Ok((got, _)) if &got == value => {}
                Ok((got, _)) => return Err(format!("GET {key:?} via {node}: {got:?}")),
                Err(e) => return Err(format!("GET {key:?} via {node}: {e}")),
            }
        }
    }
    Ok(())
}

/// Sends SIGKILL: no LEAVE, no hand-over, the process is simply gone.
fn kill_9(process: &mut Process) {
    process.child.kill().expect("kill -9");
    process.child.wait().expect("reap");
}

#[test]
fn two_adjacent_crashes_lose_no_key_and_the_ring_heals_when_they_return() {
    let mut rng = Rng::new(0xC0FFEE);
    let mut nodes: Vec<Process> = Vec::new();
    for _ in 0..NODES {
        let join = nodes.first().map(|p| p.me);
        nodes.push(start("127.0.0.1:0", join));
    }
    let all = sorted(&nodes);
    wait_until(SETTLE, || check_ring(&all, R)).expect("the ring of 6 is stable");

    let mut want = BTreeMap::new();
    for i in 0..KEYS {
        let key = format!("fruta-{i}");
        let value = format!("Maçã {i}");
        let via = all[rng.below(NODES)];
        peer(&via).put(&key, &value).expect("PUT is acknowledged");
        want.insert(key, value);
    }
    wait_until(SETTLE, || check_replicas(&all, &want, R)).expect("every key on 3 nodes");

    // kill -9 the primary of some key, then, once the ring has healed, its successor.
    let first = successor_of(&all, ring().key_id("fruta-0"));
    let second = all[(all.iter().position(|n| *n == first).unwrap() + 1) % NODES];
    let mut dead = Vec::new();
    for victim in [first, second] {
        let i = nodes.iter().position(|p| p.me == victim).unwrap();
        let mut process = nodes.remove(i);
        kill_9(&mut process);
        dead.push(process);
        let survivors = sorted(&nodes);
        // At once, before any repair: the replicas answer for the dead primary.
        check_reads(&survivors[..1], &want).expect("GET falls back to a replica at once");
        wait_until(SETTLE, || check_ring(&survivors, R)).expect("the survivors' ring");
        wait_until(SETTLE, || check_replicas(&survivors, &want, R))
            .expect("every key back on 3 live nodes");
    }
    check_reads(&sorted(&nodes), &want).expect("every key, through every survivor");

    // The crashed nodes come back, as new processes on the same addresses.
    let through = nodes[0].me;
    for old in dead {
        let addr = old.me.addr.to_string();
        drop(old);
        let back = start(&addr, Some(through));
        assert_eq!(back.me, dead_me(&addr), "same address, same id");
        nodes.push(back);
    }
    let all_again = sorted(&nodes);
    assert_eq!(all_again, all);
    wait_until(SETTLE, || check_ring(&all_again, R)).expect("the ring of 6 again");
    wait_until(SETTLE, || check_replicas(&all_again, &want, R))
        .expect("every key on its 3 holders again, none twice, none lost");
    check_reads(&all_again, &want).expect("every key, through every node");
}

/// The id a node at `addr` has: the hash of the address.
fn dead_me(addr: &str) -> NodeRef {
    let addr = addr.parse().unwrap();
    NodeRef {
        id: ring().node_id(addr),
        addr,
    }
}
