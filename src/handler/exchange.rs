//! One request's bookkeeping from arrival to its log record: id, timing, who asked for
//! what, what was tried. Writing gateway errors lives here too, so that the response, the
//! access log and the database row are made from the same `AppError`.

use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::error::AppError;
use crate::http::request::ClientConnection;
use crate::http::response::{self, ResponseHead};
use crate::record::{RecordEvent, RequestRecord};
use crate::server::worker::Worker;

pub struct Exchange {
    pub record: RequestRecord,
    pub received_at: Instant,
    pub keep_alive: bool,
    pub model_index: Option<usize>,
    pub upstream_index: Option<usize>,
}

impl Exchange {
    pub fn new(endpoint: &str, received_at: Instant, keep_alive: bool) -> Self {
        Self {
            record: RequestRecord {
                id: new_request_id(),
                created_at: SystemTime::now(),
                client_key: None,
                endpoint: endpoint.to_string(),
                model: None,
                upstream: None,
                upstream_model: None,
                stream: false,
                status: 0,
                tried: Vec::new(),
                error: None,
                latency_ms: 0.0,
                ttft_ms: None,
                request_body: None,
                response_body: None,
                cancelled: false,
            },
            received_at,
            keep_alive,
            model_index: None,
            upstream_index: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Stamps the outcome and hands the record to the logging thread.
    pub fn finish(mut self, worker: &Worker, status: u16) {
        let elapsed = self.received_at.elapsed();
        self.record.status = status;
        self.record.latency_ms = elapsed.as_secs_f64() * 1000.0;
        worker
            .metrics
            .count_request(self.model_index, self.upstream_index, status);
        worker.metrics.latency.observe(elapsed);
        if self.record.tried.len() > 1 {
            worker.metrics.failovers.fetch_add(
                self.record.tried.len() as u64 - 1,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        worker
            .records
            .send(RecordEvent::Request(Box::new(self.record)));
    }

    /// Answers with a gateway error and logs it; returns whether the connection stays open.
    pub async fn fail(
        mut self,
        worker: &Worker,
        connection: &mut ClientConnection,
        error: AppError,
    ) -> bool {
        let message = error.message();
        let body = error.body_with_message(&message);
        let keep_alive = self.keep_alive
            && !matches!(
                error,
                AppError::BodyTooLarge { .. } | AppError::BadRequest(_)
            );
        let head = ResponseHead {
            status: error.status(),
            content_type: "application/json",
            request_id: self.id(),
            keep_alive,
            extra: &[],
        };
        let written = response::write_full(&mut connection.stream, &head, Bytes::from(body)).await;
        self.record.error = Some(message);
        self.record.cancelled = written.is_err();
        self.finish(worker, error.status());
        keep_alive && written.is_ok()
    }
}

/// 128 random bits as 32 hex digits: unique without coordination between workers.
fn new_request_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}
