//! Admin queries answered by the database thread: usage totals grouped and bounded in time,
//! asked through the workers' channel and awaited on a oneshot.

use std::time::{Duration, Instant, UNIX_EPOCH};

use gpt_api_common::admin::{AdminQuery, UsageGroup, UsageQuery};
use gpt_api_common::record::RecordEvent;

use super::support::{record, runtime, settings, sqlite_rows, wait_for, TempDir};
use crate::start;

fn usage(group_by: UsageGroup, since: Option<u64>) -> AdminQuery {
    AdminQuery::Usage(UsageQuery {
        group_by,
        since: since.map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds)),
        until: None,
    })
}

#[test]
fn usage_totals_are_grouped_and_bounded_in_time() {
    let dir = TempDir::new("admin-usage");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    for n in 0..2 {
        sender.send(RecordEvent::Request(Box::new(record(&format!("a-{n}")))));
    }
    let mut failed = record("b-0");
    failed.client_key = Some("team-b".into());
    failed.model = Some("other".into());
    failed.status = 502;
    failed.response_body = None;
    sender.send(RecordEvent::Request(Box::new(failed)));
    assert!(wait_for(Duration::from_secs(10), || sqlite_rows(&url)
        .len()
        == 3));

    let admin = recorder.admin();
    let runtime = runtime();
    let by_key = runtime
        .block_on(admin.ask(usage(UsageGroup::Key, None)))
        .expect("answered")
        .expect("usage");
    assert_eq!(
        by_key,
        "{\"object\":\"usage\",\"group_by\":\"key\",\"since\":null,\"until\":null,\"data\":[\
         {\"group\":\"team-a\",\"requests\":2,\"errors\":0,\"prompt_tokens\":10,\
         \"completion_tokens\":2,\"total_tokens\":12,\"cost_usd\":0},\
         {\"group\":\"team-b\",\"requests\":1,\"errors\":1,\"prompt_tokens\":0,\
         \"completion_tokens\":0,\"total_tokens\":0,\"cost_usd\":0}]}"
    );
    let by_model = runtime
        .block_on(admin.ask(usage(UsageGroup::Model, None)))
        .expect("answered")
        .expect("usage");
    assert!(
        by_model.contains("{\"group\":\"other\",\"requests\":1,"),
        "{by_model}"
    );
    // The records were made at 1,700,000,000.123456 s: a later `since` leaves none.
    let later = runtime
        .block_on(admin.ask(usage(UsageGroup::Key, Some(1_700_000_001))))
        .expect("answered")
        .expect("usage");
    assert!(
        later.ends_with("\"since\":\"2023-11-14T22:13:21.000000Z\",\"until\":null,\"data\":[]}"),
        "{later}"
    );
    recorder.shutdown(Instant::now() + Duration::from_secs(10));
    // Once the recorder is gone a question is answered with `Canceled`, not a hang.
    assert!(runtime
        .block_on(admin.ask(usage(UsageGroup::Key, None)))
        .is_err());
}
