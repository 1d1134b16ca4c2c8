//! HTTP/1.1 on the client side: the connection loop, reading requests, the router and the
//! response writer.

pub mod connection;
pub mod iovec;
pub mod request;
pub mod response;
pub mod router;
