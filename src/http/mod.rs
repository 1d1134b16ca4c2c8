//! HTTP/1.1 on the client side, as a codec: parsing requests from bytes read, routing by
//! method and path, writing response heads, bodies and chunks. No sockets, no handlers: the
//! connection loop (`server`) reads, the handler decides what to write.

pub mod chunked;
pub mod fields;
pub mod query;
pub mod request;
pub mod response;
pub mod router;
