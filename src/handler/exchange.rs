//! One request's bookkeeping from arrival to its log record: id, timing, who asked for
//! what, what was tried. Writing gateway errors lives here too, so that the response, the
//! access log and the database row are made from the same `AppError`.

use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::AppError;
use crate::http::request::ClientConnection;
use crate::http::response::{self, ResponseHead};
use crate::record::{RecordEvent, RequestRecord, StreamId};
use crate::server::worker::{Routes, Worker};

pub struct Exchange {
    /// The config generation this request is served by, to its end.
    pub routes: Rc<Routes>,
    pub record: RequestRecord,
    pub received_at: Instant,
    pub keep_alive: bool,
    pub model_index: Option<usize>,
    pub upstream_index: Option<usize>,
}

impl Exchange {
    pub fn new(worker: &Worker, endpoint: &str, received_at: Instant, keep_alive: bool) -> Self {
        Self {
            routes: worker.routes(),
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
        self.stamp(worker, status);
        worker
            .records
            .send(RecordEvent::Request(Box::new(self.record)));
    }

    /// The same for a stream whose chunks went to the logging thread under `stream`.
    pub fn finish_stream(mut self, worker: &Worker, stream: StreamId) {
        self.stamp(worker, 200);
        let record = Box::new(self.record);
        worker
            .records
            .send(RecordEvent::StreamEnd { stream, record });
    }

    fn stamp(&mut self, worker: &Worker, status: u16) {
        let elapsed = self.received_at.elapsed();
        self.record.status = status;
        self.record.latency_ms = elapsed.as_secs_f64() * 1000.0;
        self.routes
            .counters
            .count(self.model_index, self.upstream_index, status);
        worker.metrics.latency.observe(elapsed);
        if let Some(extra_attempts) = self.record.tried.len().checked_sub(1) {
            worker
                .metrics
                .failovers
                .fetch_add(extra_attempts as u64, std::sync::atomic::Ordering::Relaxed);
        }
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

/// 128 bits as 32 hex digits: the time in microseconds, then 64 random bits. Unique without
/// coordination between workers, and nearly sorted, so the log's primary-key index grows at
/// its end instead of taking inserts at random places.
pub fn new_request_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64);
    format!("{micros:016x}{:016x}", fastrand::u64(..))
}
