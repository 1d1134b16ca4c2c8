//! The spill file: appending, counting across restarts, batched replay, removal.

use crate::spill::SpillFile;

use super::support::{bare_row, full_row, TempDir};

#[test]
fn rows_survive_a_restart_and_replay_in_batches() {
    let dir = TempDir::new("spill");
    let path = dir.path().join("spill.jsonl");
    let rows: Vec<_> = (0..5).map(|n| full_row(&n.to_string())).collect();
    let mut spill = SpillFile::open(path.clone()).expect("open");
    assert!(!path.exists(), "no file until something is spilled");
    for row in &rows {
        spill.append(row).expect("append");
    }
    spill.flush(true).expect("flush");
    drop(spill);

    let mut spill = SpillFile::open(path.clone()).expect("reopen");
    assert_eq!(spill.rows(), 5);
    let first = spill.read_batch(2).expect("read");
    assert_eq!(first, rows[..2]);
    // Not committed (the database failed): the same rows come again.
    assert_eq!(spill.read_batch(2).expect("read again"), rows[..2]);
    spill.commit_batch().expect("commit");
    assert_eq!(spill.rows(), 3);
    spill
        .append(&bare_row("late"))
        .expect("append during replay");
    assert_eq!(
        spill.read_batch(10).expect("read rest"),
        [&rows[2..], &[bare_row("late")]].concat()
    );
    spill.commit_batch().expect("commit rest");
    assert_eq!(spill.rows(), 0);
    assert!(!path.exists(), "the file goes once replayed");

    spill
        .append(&bare_row("after"))
        .expect("append after replay");
    spill.flush(false).expect("flush");
    assert_eq!(SpillFile::open(path).expect("reopen").rows(), 1);
}

#[test]
fn a_line_cut_by_a_crash_is_skipped() {
    let dir = TempDir::new("spill-cut");
    let path = dir.path().join("spill.jsonl");
    let mut line = simd_json::to_string(&full_row("whole")).expect("encode");
    line.push('\n');
    line.push_str("{\"id\":\"cut");
    std::fs::write(&path, line).expect("write");

    let mut spill = SpillFile::open(path).expect("open");
    spill.append(&bare_row("next")).expect("append");
    assert_eq!(spill.rows(), 3);
    let rows = spill.read_batch(10).expect("read");
    assert_eq!(rows, [full_row("whole"), bare_row("next")]);
    spill.commit_batch().expect("commit");
    assert_eq!(spill.rows(), 0);
}

#[test]
fn copies_the_database_took_leave_with_the_file_unread() {
    let dir = TempDir::new("spill-copies");
    let path = dir.path().join("spill.jsonl");
    let mut spill = SpillFile::open(path.clone()).expect("open");
    for n in 0..3 {
        let settled_later = spill.append_copy(&bare_row(&n.to_string()));
        assert!(settled_later.expect("copy"));
    }
    spill.flush(false).expect("flush");
    assert_eq!((spill.rows(), spill.waiting()), (3, 3));
    assert!(!spill.needs_replay(), "every row is still in memory");
    assert!(path.exists(), "the copies are on disk against a crash");

    let generation = spill.generation();
    spill.settle(generation, 2).expect("settle");
    assert_eq!((spill.rows(), spill.waiting()), (3, 1));
    assert!(path.exists(), "one copy's row is not in the database yet");
    spill.settle(generation, 1).expect("settle the last");
    assert_eq!((spill.rows(), spill.waiting()), (0, 0));
    assert!(!path.exists(), "every copy's row is in the database");
    assert_ne!(spill.generation(), generation);
}

#[test]
fn a_row_that_leaves_memory_folds_the_copies_into_the_replay() {
    let dir = TempDir::new("spill-fold");
    let path = dir.path().join("spill.jsonl");
    let mut spill = SpillFile::open(path.clone()).expect("open");
    assert!(spill.append_copy(&bare_row("copy-1")).expect("copy"));
    assert!(spill.append_copy(&bare_row("copy-2")).expect("copy"));
    let generation = spill.generation();
    spill.append(&bare_row("moved")).expect("append");
    assert!(spill.needs_replay());
    assert_eq!((spill.rows(), spill.waiting()), (3, 3));

    // The copies' write succeeding no longer counts them off: they are replayed.
    spill.settle(generation, 2).expect("settle");
    assert_eq!(spill.waiting(), 3);
    assert!(path.exists());
    // A copy made now is one more row to replay.
    assert!(!spill.append_copy(&bare_row("copy-3")).expect("copy"));
    assert_eq!(spill.waiting(), 4);

    let ids: Vec<_> = spill
        .read_batch(10)
        .expect("read")
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(
        ids,
        ["bare-copy-1", "bare-copy-2", "bare-moved", "bare-copy-3"]
    );
    spill.commit_batch().expect("commit");
    assert_eq!(spill.rows(), 0);
    assert!(!path.exists());
}
