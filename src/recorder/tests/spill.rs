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
