//! Signaling messages from the network (registry WebSocket and REST
//! bodies): parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::signaling::{
    ClientMessage, InitiateRequest, RegisterRequest, ServerEvent, parse,
};

fuzz_target!(|data: &[u8]| {
    let _ = parse::<ClientMessage>(data);
    let _ = parse::<ServerEvent>(data);
    let _ = parse::<RegisterRequest>(data);
    let _ = parse::<InitiateRequest>(data);
});
