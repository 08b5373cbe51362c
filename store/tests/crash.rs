//! Crash safety: a writer killed with SIGKILL in the middle of a long series of writes leaves
//! a database that opens and holds a consistent prefix of what it wrote, never half a batch.
//!
//! The writer is this test binary re-executed with `STORE_CRASH_CHILD` set (the
//! `crash_child_writer` test does the writing then, and nothing otherwise).

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use ca::KeyStore;
use store::{EntryRecord, SqliteStore, Store};

use common::full_entry;

const CHILD_ENV: &str = "STORE_CRASH_CHILD";
/// Entries per transaction: a torn transaction would show as a partial batch.
const BATCH: usize = 10;

fn batch(round: usize) -> Vec<EntryRecord> {
    (0..BATCH)
        .map(|j| {
            full_entry(
                &format!("b{round}/e{j}"),
                u32::try_from(round * BATCH + j).unwrap(),
            )
        })
        .collect()
}

/// The writer: from where the store stands, forever: one batch of entries, then a CA key,
/// then the state document naming that round, each its own transaction; prints each round
/// number once all three are committed.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(&path).unwrap();
    let journal = store.ca_journal("agent").unwrap();
    let mut round = store.entries().unwrap().len() / BATCH;
    // A previous writer may have been killed after a round's entries and before its key and
    // state: finish those rounds first, as a resuming CA would.
    let journalled = journal.get_state().unwrap().map_or(0, |state| {
        String::from_utf8(state).unwrap().parse::<usize>().unwrap() + 1
    });
    for unfinished in journalled..round {
        journal
            .put_key(
                &format!("x509-{unfinished}"),
                format!("key {unfinished}").repeat(200).as_bytes(),
            )
            .unwrap();
    }
    let mut stdout = std::io::stdout();
    loop {
        store.create_entries(&batch(round)).unwrap();
        journal
            .put_key(
                &format!("x509-{round}"),
                format!("key {round}").repeat(200).as_bytes(),
            )
            .unwrap();
        journal.put_state(round.to_string().as_bytes()).unwrap();
        writeln!(stdout, "committed {round}").unwrap();
        stdout.flush().unwrap();
        round += 1;
    }
}

/// Runs the writer until it reports `rounds` more committed rounds, then kills it with
/// SIGKILL; returns the last round it reported.
fn write_then_kill(path: &std::path::Path, rounds: usize) -> Option<usize> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last = None;
    let mut seen = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(round) = line.strip_prefix("committed ") {
            last = Some(round.parse().unwrap());
            seen += 1;
            if seen == rounds {
                break;
            }
        }
    }
    // `Child::kill` is SIGKILL on Unix: no destructor, no checkpoint, no close.
    child.kill().unwrap();
    child.wait().unwrap();
    last
}

#[test]
fn sigkill_mid_writes_leaves_a_consistent_prefix() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    // Three crashes in a row, each writer resuming the file the previous one left.
    for _ in 0..3 {
        let reported = write_then_kill(&path, 40).expect("the writer committed nothing");

        let store = SqliteStore::open(&path).unwrap();
        let entries = store.entries().unwrap();
        assert_eq!(
            entries.len() % BATCH,
            0,
            "a partial batch: {} entries",
            entries.len()
        );
        let rounds = entries.len() / BATCH;
        assert!(
            rounds > reported,
            "round {reported} was reported committed, {rounds} stored"
        );
        for (round, stored) in entries.chunks(BATCH).enumerate() {
            let expected = batch(round);
            for (got, want) in stored.iter().zip(&expected) {
                assert_eq!(got.spiffe_id(), want.spiffe_id());
                assert_eq!(got.selectors(), want.selectors());
                assert_eq!(got.dns_names(), want.dns_names());
                assert_eq!(got.hint(), want.hint());
                assert_eq!(got.federates_with(), want.federates_with());
                assert_eq!(got.revision(), 1);
            }
        }
        // The journal: the state names the last round whose key was written before it; that
        // key is whole, and no round's entries are missing below it.
        let journal = store.journal("agent").unwrap();
        let state: usize = String::from_utf8(journal.get_state().unwrap().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            state >= reported && state < rounds,
            "state {state}, reported {reported}, rounds {rounds}"
        );
        for round in 0..=state {
            let key = journal.get_key(&format!("x509-{round}")).unwrap().unwrap();
            assert_eq!(
                key.as_slice(),
                format!("key {round}").repeat(200).as_bytes()
            );
        }
        assert!(journal.key_names().unwrap().len() <= rounds);
    }
}
