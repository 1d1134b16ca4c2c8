//! One keep-alive connection of the mock: read requests (pipelined ones too), write canned replies.

use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::request::{self, Parsed, Reply, StreamShape};
use super::responses::Responses;

const INITIAL_BUFFER: usize = 8 * 1024;
const MAX_REQUEST: usize = 16 * 1024 * 1024;

pub async fn serve(
    mut stream: TcpStream,
    responses: &'static Responses,
    default_shape: StreamShape,
) {
    // Latency matters more than packet count here; without it small writes wait for ACKs.
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(INITIAL_BUFFER);
    loop {
        match request::parse(&buffer, default_shape) {
            Parsed::Complete(request) => {
                if reply(&mut stream, request.reply, request.close, responses)
                    .await
                    .is_err()
                    || request.close
                {
                    return;
                }
                buffer.drain(..request.length);
                continue;
            }
            Parsed::Invalid => {
                let _ = stream.write_all(responses.bad_request).await;
                return;
            }
            Parsed::Partial => {}
        }
        if buffer.len() == buffer.capacity() {
            if buffer.capacity() >= MAX_REQUEST {
                return;
            }
            buffer.reserve(buffer.capacity());
        }
        let (length, capacity) = (buffer.len(), buffer.capacity());
        let (result, slice) = stream.read(buffer.slice_mut(length..capacity)).await;
        buffer = slice.into_inner();
        if !matches!(result, Ok(read) if read > 0) {
            return;
        }
    }
}

/// Writes the reply; `Err` when the client went away.
async fn reply(
    stream: &mut TcpStream,
    reply: Reply,
    close: bool,
    responses: &'static Responses,
) -> Result<(), ()> {
    let canned = match reply {
        Reply::ChatStream {
            shape,
            include_usage,
        } => {
            return stream_chat(stream, shape, include_usage, close, responses).await;
        }
        Reply::MessageStream { shape } => {
            return stream_message(stream, shape, close, responses).await;
        }
        Reply::GeminiStream { shape } => {
            return stream_gemini(stream, shape, close, responses).await;
        }
        Reply::CohereStream { shape } => {
            return stream_cohere(stream, shape, close, responses).await;
        }
        Reply::ConverseStream { shape } => {
            return stream_converse(stream, shape, close, responses).await;
        }
        Reply::Chat => responses.chat,
        Reply::Message => responses.message,
        Reply::Gemini => responses.gemini,
        Reply::Cohere => responses.cohere,
        Reply::Converse => responses.converse,
        Reply::Embeddings => responses.embeddings,
        Reply::NotFound => responses.not_found,
        Reply::MethodNotAllowed => responses.method_not_allowed,
        Reply::BadRequest => responses.bad_request,
    };
    write(stream, canned).await
}

/// Head, then every event as its own write, like a model server flushing each token.
async fn stream_chat(
    stream: &mut TcpStream,
    shape: StreamShape,
    include_usage: bool,
    close: bool,
    responses: &'static Responses,
) -> Result<(), ()> {
    write(stream, responses.stream_head(close)).await?;
    write_deltas(stream, shape, responses.delta).await?;
    write(stream, responses.finish).await?;
    if include_usage {
        write(stream, responses.usage_event(shape.chunks)).await?;
    }
    write(stream, responses.done).await
}

/// Anthropic's event sequence around the same deltas: `message_start`, `content_block_start`,
/// the text deltas, `content_block_stop`, `message_delta`, `message_stop`.
async fn stream_message(
    stream: &mut TcpStream,
    shape: StreamShape,
    close: bool,
    responses: &'static Responses,
) -> Result<(), ()> {
    write(stream, responses.stream_head(close)).await?;
    write(stream, responses.message_start).await?;
    write(stream, responses.block_start).await?;
    write_deltas(stream, shape, responses.block_delta).await?;
    write(stream, responses.block_stop).await?;
    write(stream, responses.message_delta(shape.chunks)).await?;
    write(stream, responses.message_stop).await
}

/// Gemini has no framing events: the deltas, the last one carrying `finishReason` and the
/// whole usage (so one write fewer than the N deltas plus an end event would take).
async fn stream_gemini(
    stream: &mut TcpStream,
    shape: StreamShape,
    close: bool,
    responses: &'static Responses,
) -> Result<(), ()> {
    write(stream, responses.stream_head(close)).await?;
    let before_last = StreamShape {
        chunks: shape.chunks.saturating_sub(1),
        ..shape
    };
    let start = write_deltas(stream, before_last, responses.gemini_delta).await?;
    let interval = Duration::from_millis(shape.interval_ms);
    if shape.chunks > 0 && !interval.is_zero() {
        let index = u32::try_from(shape.chunks).unwrap_or(u32::MAX);
        monoio::time::sleep_until(start + interval * index).await;
    }
    write(stream, responses.gemini_last(shape.chunks)).await
}

/// Cohere v2's event sequence around the same deltas: `message-start`, `content-start`, the
/// text deltas as `content-delta`, `content-end`, `message-end` (finish reason, usage).
async fn stream_cohere(
    stream: &mut TcpStream,
    shape: StreamShape,
    close: bool,
    responses: &'static Responses,
) -> Result<(), ()> {
    write(stream, responses.stream_head(close)).await?;
    write(stream, responses.cohere_start).await?;
    write(stream, responses.cohere_content_start).await?;
    write_deltas(stream, shape, responses.cohere_delta).await?;
    write(stream, responses.cohere_content_end).await?;
    write(stream, responses.cohere_end(shape.chunks)).await
}

/// Bedrock's `converse-stream` in AWS event-stream frames: `messageStart`, the deltas as
/// `contentBlockDelta`, `contentBlockStop`, `messageStop` (`end_turn`), `metadata` (usage).
async fn stream_converse(
    stream: &mut TcpStream,
    shape: StreamShape,
    close: bool,
    responses: &'static Responses,
) -> Result<(), ()> {
    write(stream, responses.eventstream_head(close)).await?;
    write(stream, responses.converse_start).await?;
    write_deltas(stream, shape, responses.converse_delta).await?;
    write(stream, responses.converse_block_stop).await?;
    write(stream, responses.converse_stop).await?;
    write(stream, responses.converse_metadata(shape.chunks)).await
}

/// The stream's deltas on a fixed schedule from the start, like a model's token rate: the time
/// spent writing does not stretch the interval. Returns the schedule's start.
async fn write_deltas(
    stream: &mut TcpStream,
    shape: StreamShape,
    delta: &'static [u8],
) -> Result<monoio::time::Instant, ()> {
    let interval = Duration::from_millis(shape.interval_ms);
    let start = monoio::time::Instant::now();
    for index in 1..=shape.chunks {
        if !interval.is_zero() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            monoio::time::sleep_until(start + interval * index).await;
        }
        write(stream, delta).await?;
    }
    Ok(start)
}

async fn write<T: monoio::buf::IoBuf + 'static>(
    stream: &mut TcpStream,
    bytes: T,
) -> Result<(), ()> {
    stream.write_all(bytes).await.0.map(drop).map_err(drop)
}
