//! SSE streams: opening one (`open`), relaying it untouched (`relay`, writing through
//! `sink`), continuing it from another target when it breaks (`recovery`). Framing is byte
//! scanning only (`sse`); JSON is parsed only on recovery. The exchange drives these and
//! decides what a break means.

mod hang_up;
mod open;
mod recovery;
mod relay;
mod sink;
mod sse;

pub use open::{open, OpenStream, Opened};
pub use recovery::continue_stream;
pub use relay::{pump, EventFilter, RelayState, StreamEnd};
pub use sink::ClientSink;
