//! SSE streams: opening one (`open`), relaying it untouched (`relay`, writing through
//! `sink`), continuing it from another target when it breaks (`recovery`). Framing is byte
//! scanning only (`sse`); JSON is parsed only on recovery. The exchange drives these and
//! decides what a break means. A stream from a target of the other dialect goes through
//! `translate` instead of the pass-through filter.

mod hang_up;
mod open;
mod recovery;
mod relay;
mod sink;
mod sse;
mod translate;

pub use open::{open, OpenStream, Opened};
pub use recovery::continue_stream;
pub use relay::{deliver, pump, EventFilter, RelayState, StreamEnd};
pub use sink::ClientSink;
pub use sse::first_data;
pub use translate::Translator;
